// Command k8sschema writes the JSON schemas kubeconform validates Kubernetes manifests against, from
// the OpenAPI document of the Kubernetes API (api/openapi-spec/swagger.json in the k8s.io/kubernetes
// module), for machines that cannot download kubeconform's published schemas. scripts/install-peers
// runs it; the Helm chart's test (test/e2e/helm_test.go) points kubeconform at its output:
//
//	go run ./tools/k8sschema --swagger swagger.json --version 1.36.3 --out DIR
//	kubeconform -strict -kubernetes-version 1.36.3 -schema-location DIR manifests.yaml
//
// For each kind the API serves it writes DIR/v<version>-standalone-strict/<kind>-<group>-<version>.json
// (kubeconform's naming): the kind's definition with every definition it refers to under
// "definitions", so each file stands alone. The conversion is that of kubeconform's own schemas
// (openapi2jsonschema --kubernetes --stand-alone --strict):
//   - an object with properties admits no other member (additionalProperties: false), unless the
//     API preserves unknown fields there;
//   - every value but the document itself may be null, as the API server accepts;
//   - an int-or-string (ports, maxSurge) and a quantity (cpu: 1, memory: 128Mi) take either form;
//   - kind and apiVersion must name the kind the file is for.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

const quantity = "io.k8s.apimachinery.pkg.api.resource.Quantity"

type gvk struct {
	Group, Version, Kind string
}

func main() {
	swagger := flag.String("swagger", "", "the Kubernetes API's OpenAPI v2 document (swagger.json)")
	version := flag.String("version", "", "the Kubernetes version it is of, e.g. 1.36.3 (names the output directory)")
	out := flag.String("out", "", "directory to write the schemas under")
	flag.Parse()
	if *swagger == "" || *version == "" || *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: k8sschema --swagger swagger.json --version 1.36.3 --out DIR")
		os.Exit(2)
	}
	n, err := run(*swagger, *version, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "k8sschema:", err)
		os.Exit(1)
	}
	fmt.Printf("k8sschema: %d schemas of Kubernetes %s in %s\n", n, *version, filepath.Join(*out, "v"+*version+"-standalone-strict"))
}

func run(swaggerPath, version, out string) (int, error) {
	data, err := os.ReadFile(swaggerPath)
	if err != nil {
		return 0, err
	}
	var doc struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return 0, fmt.Errorf("%s: %w", swaggerPath, err)
	}
	if len(doc.Definitions) == 0 {
		return 0, fmt.Errorf("%s has no definitions: is it the Kubernetes API's swagger.json?", swaggerPath)
	}
	dir := filepath.Join(out, "v"+version+"-standalone-strict")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	names := make([]string, 0, len(doc.Definitions))
	for name := range doc.Definitions {
		names = append(names, name)
	}
	slices.Sort(names)
	written := 0
	for _, name := range names {
		for _, k := range kinds(doc.Definitions[name]) {
			if k.Kind == "" || k.Version == "" {
				continue
			}
			schema, err := standalone(doc.Definitions, name, k)
			if err != nil {
				return written, err
			}
			body, err := json.Marshal(schema)
			if err != nil {
				return written, err
			}
			if err := os.WriteFile(filepath.Join(dir, fileName(k)), body, 0o644); err != nil {
				return written, err
			}
			written++
		}
	}
	if written == 0 {
		return 0, fmt.Errorf("%s names no kinds (x-kubernetes-group-version-kind)", swaggerPath)
	}
	return written, nil
}

// kinds lists the group, version and kind a definition is served as.
func kinds(def map[string]any) []gvk {
	list, _ := def["x-kubernetes-group-version-kind"].([]any)
	var out []gvk
	for _, e := range list {
		m, _ := e.(map[string]any)
		g, _ := m["group"].(string)
		v, _ := m["version"].(string)
		k, _ := m["kind"].(string)
		out = append(out, gvk{g, v, k})
	}
	return out
}

// fileName is kubeconform's name for a kind's schema: the kind, the group's first label and the
// version, lower case (deployment-apps-v1.json, service-v1.json).
func fileName(k gvk) string {
	name := strings.ToLower(k.Kind)
	if k.Group != "" {
		name += "-" + strings.ToLower(strings.Split(k.Group, ".")[0])
	}
	return name + "-" + strings.ToLower(k.Version) + ".json"
}

func apiVersion(k gvk) string {
	if k.Group == "" {
		return k.Version
	}
	return k.Group + "/" + k.Version
}

// standalone is the schema of the kind defined at name, with every definition it reaches.
func standalone(defs map[string]map[string]any, name string, k gvk) (map[string]any, error) {
	reached := map[string]any{}
	var reach func(string) error
	reach = func(n string) error {
		if _, ok := reached[n]; ok {
			return nil
		}
		def, ok := defs[n]
		if !ok {
			return fmt.Errorf("%s refers to %s, which is not defined", name, n)
		}
		var refs []string
		reached[n] = convert(def, n == quantity, &refs) // before its references: definitions may refer to themselves
		for _, r := range refs {
			if err := reach(r); err != nil {
				return err
			}
		}
		return nil
	}
	if err := reach(name); err != nil {
		return nil, err
	}
	root := reached[name].(map[string]any)
	delete(reached, name)
	root["type"] = "object" // the document itself is never null
	if props, ok := root["properties"].(map[string]any); ok {
		props["kind"] = map[string]any{"type": "string", "enum": []any{k.Kind}}
		props["apiVersion"] = map[string]any{"type": "string", "enum": []any{apiVersion(k)}}
	}
	root["$schema"] = "http://json-schema.org/draft-07/schema#"
	if len(reached) > 0 {
		root["definitions"] = reached
	}
	return root, nil
}

// convert returns a copy of an OpenAPI schema as a strict JSON schema, appending to refs the
// definitions it refers to.
func convert(node map[string]any, isQuantity bool, refs *[]string) map[string]any {
	out := make(map[string]any, len(node)+1)
	for key, v := range node {
		switch key {
		case "$ref":
			ref, _ := v.(string)
			target := strings.TrimPrefix(ref, "#/definitions/")
			*refs = append(*refs, target)
			out[key] = ref
		case "properties":
			props := map[string]any{}
			for p, s := range v.(map[string]any) {
				props[p] = convert(s.(map[string]any), false, refs)
			}
			out[key] = props
		case "items", "additionalProperties":
			if s, ok := v.(map[string]any); ok {
				out[key] = convert(s, false, refs)
			} else {
				out[key] = v
			}
		case "allOf", "anyOf", "oneOf":
			var list []any
			for _, s := range v.([]any) {
				list = append(list, convert(s.(map[string]any), false, refs))
			}
			out[key] = list
		default:
			if !strings.HasPrefix(key, "x-kubernetes-") || key == "x-kubernetes-preserve-unknown-fields" {
				out[key] = v
			}
		}
	}
	format, _ := node["format"].(string)
	switch {
	case format == "int-or-string":
		delete(out, "type")
		delete(out, "format")
		out["oneOf"] = []any{map[string]any{"type": []any{"string", "null"}}, map[string]any{"type": "integer"}}
	case isQuantity:
		delete(out, "type")
		out["oneOf"] = []any{map[string]any{"type": []any{"string", "null"}}, map[string]any{"type": "number"}}
	case out["type"] != nil:
		if t, ok := out["type"].(string); ok {
			out["type"] = []any{t, "null"}
		}
	}
	if _, ok := out["properties"]; ok {
		if _, set := out["additionalProperties"]; !set && node["x-kubernetes-preserve-unknown-fields"] != true {
			out["additionalProperties"] = false
		}
	}
	return out
}
