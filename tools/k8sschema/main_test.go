package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestStandaloneStrict converts a small API document and checks the file kubeconform would read.
func TestStandaloneStrict(t *testing.T) {
	doc := `{"definitions": {
	  "io.k8s.api.apps.v1.Widget": {"type": "object", "x-kubernetes-group-version-kind": [{"group": "apps", "version": "v1", "kind": "Widget"}],
	    "properties": {"kind": {"type": "string"}, "apiVersion": {"type": "string"}, "spec": {"$ref": "#/definitions/io.k8s.api.apps.v1.WidgetSpec"}}},
	  "io.k8s.api.apps.v1.WidgetSpec": {"type": "object", "required": ["port"],
	    "properties": {"port": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
	      "cpu": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"},
	      "raw": {"type": "object", "properties": {"a": {"type": "string"}}, "x-kubernetes-preserve-unknown-fields": true},
	      "next": {"$ref": "#/definitions/io.k8s.api.apps.v1.WidgetSpec"}}},
	  "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string"},
	  "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
	  "io.k8s.api.core.v1.Unused": {"type": "object", "x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "Gadget"}]}
	}}`
	dir := t.TempDir()
	src := filepath.Join(dir, "swagger.json")
	os.WriteFile(src, []byte(doc), 0o644)
	n, err := run(src, "1.2.3", dir)
	if err != nil || n != 2 {
		t.Fatalf("run: %d schemas, %v", n, err)
	}
	var got map[string]any
	data, err := os.ReadFile(filepath.Join(dir, "v1.2.3-standalone-strict", "widget-apps-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(data, &got)
	props := got["properties"].(map[string]any)
	if !reflect.DeepEqual(props["kind"], map[string]any{"type": "string", "enum": []any{"Widget"}}) ||
		!reflect.DeepEqual(props["apiVersion"], map[string]any{"type": "string", "enum": []any{"apps/v1"}}) {
		t.Errorf("kind and apiVersion are not pinned: %v %v", props["kind"], props["apiVersion"])
	}
	if got["additionalProperties"] != false || got["type"] != "object" {
		t.Errorf("the document: additionalProperties %v, type %v", got["additionalProperties"], got["type"])
	}
	defs := got["definitions"].(map[string]any)
	if len(defs) != 3 {
		t.Errorf("definitions %d, want the 3 the kind reaches (not Unused): %v", len(defs), defs)
	}
	spec := defs["io.k8s.api.apps.v1.WidgetSpec"].(map[string]any)
	if spec["additionalProperties"] != false || !reflect.DeepEqual(spec["type"], []any{"object", "null"}) {
		t.Errorf("spec: %v", spec)
	}
	if raw := spec["properties"].(map[string]any)["raw"].(map[string]any); raw["additionalProperties"] != nil {
		t.Errorf("preserve-unknown-fields made strict: %v", raw)
	}
	ios := defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"].(map[string]any)
	if ios["oneOf"] == nil || ios["type"] != nil || ios["format"] != nil {
		t.Errorf("int-or-string: %v", ios)
	}
	if q := defs["io.k8s.apimachinery.pkg.api.resource.Quantity"].(map[string]any); q["oneOf"] == nil {
		t.Errorf("quantity: %v", q)
	}
	if _, err := os.Stat(filepath.Join(dir, "v1.2.3-standalone-strict", "gadget-v1.json")); err != nil {
		t.Errorf("a core kind's file: %v", err)
	}
	os.WriteFile(src, []byte(`{"definitions": {"a": {"type": "object", "x-kubernetes-group-version-kind": [{"version": "v1", "kind": "A"}], "properties": {"b": {"$ref": "#/definitions/missing"}}}}}`), 0o644)
	if _, err := run(src, "1.2.3", dir); err == nil {
		t.Error("a reference to a missing definition was accepted")
	}
}
