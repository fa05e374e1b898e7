package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// The Helm chart (SPEC §13.3) is checked three ways: helm lint and kubeconform (against the
// Kubernetes API's schemas, strictly) for each shape of values, with the configuration each renders
// checked by gatehouse check; helm template refusing the values that would not run; and the rendered
// pod run here, as kubelet would lay it out, with the gatehouse binary: its configuration starts, its
// probes pass, its API key calls a tool, and a ConfigMap bundle updated in place changes the
// decisions. Not covered without a cluster and a Docker engine: the image, the pod's user, the
// volumes' real permissions, scheduling.

type manifest = map[string]any

// helmTools returns helm, kubeconform and the schema directory scripts/install-peers installs, and
// the Kubernetes version of those schemas.
func helmTools(t *testing.T) (helm, kubeconform, schemas, kube string) {
	t.Helper()
	helm, kubeconform = filepath.Join(peers, "bin", "helm"), filepath.Join(peers, "bin", "kubeconform")
	schemas = filepath.Join(peers, "k8s-schemas")
	dirs, _ := filepath.Glob(filepath.Join(schemas, "v*-standalone-strict"))
	for _, p := range []string{helm, kubeconform} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s is not installed: run scripts/install-peers first (%v)", p, err)
		}
	}
	if len(dirs) != 1 {
		t.Fatalf("no Kubernetes schemas (or several) under %s: run scripts/install-peers first", schemas)
	}
	kube = strings.TrimSuffix(strings.TrimPrefix(filepath.Base(dirs[0]), "v"), "-standalone-strict")
	return helm, kubeconform, schemas, kube
}

// valuesFile writes values into a file for helm's --values, whose path must not hold a comma (helm
// splits the flag's value on commas; t.TempDir's holds the test's name).
func valuesFile(t *testing.T, values string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "chart-values")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	vf := filepath.Join(dir, "values.yaml")
	if err := os.WriteFile(vf, []byte(values), 0o644); err != nil {
		t.Fatal(err)
	}
	return vf
}

// renderChart runs helm template on the chart with values (YAML); the error carries helm's output.
func renderChart(t *testing.T, helm, kube, values string) (string, error) {
	t.Helper()
	vf := valuesFile(t, values)
	cmd := exec.Command(helm, "template", "gw", filepath.Join(repoRoot, "deploy", "helm", "gatehouse"),
		"--namespace", "agents", "--kube-version", kube, "--values", vf)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%v: %s", err, stderr.String())
	}
	return string(out), nil
}

func parseManifests(t *testing.T, text string) []manifest {
	t.Helper()
	var ms []manifest
	dec := yaml.NewDecoder(strings.NewReader(text))
	for {
		var m manifest
		err := dec.Decode(&m)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return ms
			}
			t.Fatalf("rendered YAML: %v", err)
		}
		if m != nil {
			ms = append(ms, m)
		}
	}
}

// dig follows map keys (strings) and list indexes (ints) into v.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any, path ...any) string { s, _ := dig(v, path...).(string); return s }

// find returns the manifest of kind named name, or nil.
func find(ms []manifest, kind, name string) manifest {
	for _, m := range ms {
		if m["kind"] == kind && str(m, "metadata", "name") == name {
			return m
		}
	}
	return nil
}

func kinds(ms []manifest) []string {
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprint(m["kind"]))
	}
	slices.Sort(out)
	return out
}

// workload returns the StatefulSet or Deployment and its one container.
func workload(t *testing.T, ms []manifest) (manifest, map[string]any) {
	t.Helper()
	for _, m := range ms {
		if m["kind"] == "StatefulSet" || m["kind"] == "Deployment" {
			c, _ := dig(m, "spec", "template", "spec", "containers", 0).(map[string]any)
			return m, c
		}
	}
	t.Fatal("no StatefulSet or Deployment rendered")
	return nil, nil
}

// gatehouseConfig returns the configuration the chart's ConfigMap holds, decoded.
func gatehouseConfig(t *testing.T, ms []manifest) map[string]any {
	t.Helper()
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(str(find(ms, "ConfigMap", "gw-gatehouse"), "data", "gatehouse.yaml")), &cfg); err != nil || cfg == nil {
		t.Fatalf("the chart's ConfigMap holds no gatehouse.yaml: %v", err)
	}
	return cfg
}

func secretData(t *testing.T, s manifest, key string) string {
	t.Helper()
	v, err := base64.StdEncoding.DecodeString(str(s, "data", key))
	if err != nil || len(v) == 0 {
		t.Fatalf("Secret %s key %s: %q %v", str(s, "metadata", "name"), key, v, err)
	}
	return string(v)
}

const bundlePolicy = `package gatehouse

default decision := {"allow": true}

decision := {"allow": false, "reason": "writes are switched off", "rule_id": "no-writes"} if {
	input.kind == "tools/call"
	input.tool.name in data.gatehouse.denied
}
`

// TestHelmChart lints, renders and validates the chart for each shape of values, and checks what
// each renders.
func TestHelmChart(t *testing.T) {
	helm, kubeconform, schemas, kube := helmTools(t)
	// Objects the user creates for some shapes: the TLS Secret, an existingSecret, Redis's password.
	tlsData := selfSigned(t)
	tlsSecret := secretManifest("gatehouse-tls", tlsData)
	tlsWithCA := secretManifest("gatehouse-tls", map[string]string{"tls.crt": tlsData["tls.crt"], "tls.key": tlsData["tls.key"], "ca.crt": tlsData["tls.crt"]})
	sum := sha256.Sum256([]byte("an admin token"))
	credentials := secretManifest("gatehouse-credentials", map[string]string{"admin-token": "an admin token", "admin-token-sha256": hex.EncodeToString(sum[:])})
	redisPassword := secretManifest("redis", map[string]string{"pw": "hunter2"})
	apiSum := sha256.Sum256([]byte("an API key"))
	for _, c := range []struct {
		name, values string
		check        func(t *testing.T, ms []manifest)
		extra        []manifest
	}{
		{"defaults", "", func(t *testing.T, ms []manifest) {
			if got := kinds(ms); !slices.Equal(got, []string{"ConfigMap", "Secret", "Service", "Service", "Service", "ServiceAccount", "StatefulSet"}) {
				t.Errorf("kinds %v", got)
			}
			w, c := workload(t, ms)
			if dig(w, "spec", "replicas") != 1 || str(w, "spec", "volumeClaimTemplates", 0, "metadata", "name") != "state" {
				t.Errorf("a StatefulSet of one replica with a state volume each: %v", w["spec"])
			}
			pod := dig(w, "spec", "template", "spec")
			if dig(pod, "securityContext", "runAsNonRoot") != true || dig(pod, "securityContext", "runAsUser") != 65532 ||
				dig(pod, "automountServiceAccountToken") != false ||
				dig(c, "securityContext", "readOnlyRootFilesystem") != true || dig(c, "securityContext", "allowPrivilegeEscalation") != false ||
				str(c, "securityContext", "capabilities", "drop", 0) != "ALL" {
				t.Errorf("the pod is not locked down: %v %v", dig(pod, "securityContext"), c["securityContext"])
			}
			if str(c, "readinessProbe", "httpGet", "path") != "/readyz" || str(c, "readinessProbe", "httpGet", "port") != "admin" {
				t.Errorf("readiness probe %v", c["readinessProbe"])
			}
			if ports := fmt.Sprint(dig(find(ms, "Service", "gw-gatehouse"), "spec", "ports")); strings.Contains(ports, "admin") {
				t.Errorf("the admin port is on the MCP Service: %s", ports)
			}
			if dig(find(ms, "Service", "gw-gatehouse-admin"), "spec", "type") != "ClusterIP" {
				t.Error("no ClusterIP Service for the admin listener")
			}
			for _, v := range dig(pod, "volumes").([]any) {
				if dig(v, "secret") != nil {
					t.Errorf("the pod mounts a Secret (it needs none, the admin token least of all): %v", v)
				}
			}
			if str(c, "livenessProbe", "httpGet", "path") != "/healthz" {
				t.Errorf("liveness probe %v", c["livenessProbe"])
			}
			cfg := gatehouseConfig(t, ms)
			if dig(cfg, "policy", "bundle") != "builtin:starter" || dig(cfg, "policy", "enabled") != true || dig(cfg, "listen") != "0.0.0.0:8080" ||
				str(cfg, "upstreams", 0, "builtin") != "fs" || dig(cfg, "tenancy", "default") != "default" ||
				dig(cfg, "admin", "token_sha256") != "${GATEHOUSE_ADMIN_TOKEN_SHA256}" || dig(cfg, "auth", "api_keys", "keys", 0, "hash") != "${GATEHOUSE_API_KEY_HASH}" {
				t.Errorf("configuration %v", cfg)
			}
			s := find(ms, "Secret", "gw-gatehouse")
			admin, key := secretData(t, s, "admin-token"), secretData(t, s, "api-key")
			if len(admin) < 43 || len(key) < 43 || admin == key {
				t.Errorf("generated credentials: %d and %d characters", len(admin), len(key))
			}
			sum := sha256.Sum256([]byte(key))
			if secretData(t, s, "api-key-hash") != "sha256:"+hex.EncodeToString(sum[:]) {
				t.Error("api-key-hash is not the API key's")
			}
		}, nil},
		{"a Deployment with a ConfigMap bundle and rules", `
persistence: {enabled: false}
policy:
  pollSeconds: 5
  rules: |
    version: 1
    default_effect: allow
    rules: []
  bundle:
    files:
      .manifest: '{"revision": "one"}'
      policy.rego: "package gatehouse\n\ndefault decision := {\"allow\": true}\n"
`, func(t *testing.T, ms []manifest) {
			w, _ := workload(t, ms)
			if w["kind"] != "Deployment" || find(ms, "ConfigMap", "gw-gatehouse-bundle") == nil {
				t.Fatalf("kinds %v", kinds(ms))
			}
			cfg := gatehouseConfig(t, ms)
			if dig(cfg, "policy", "bundle") != "/etc/gatehouse/bundle" || dig(cfg, "policy", "poll_seconds") != 5 || dig(cfg, "policy", "rules") != "/etc/gatehouse/config/rules.yaml" {
				t.Errorf("policy %v", cfg["policy"])
			}
			if find(ms, "ConfigMap", "gw-gatehouse")["data"].(map[string]any)["rules.yaml"] == nil {
				t.Error("no rules.yaml in the ConfigMap")
			}
		}, nil},
		{"replicas sharing Redis, a bundle URL", `
replicaCount: 3
redis: {url: "rediss://redis.agents.svc:6379/0", passwordSecret: {name: redis, key: pw}}
policy: {bundleUrl: "https://policy.example.com/bundle.tar.gz", bundleSha256: "` + strings.Repeat("ab", 32) + `", mode: monitor}
`, func(t *testing.T, ms []manifest) {
			if find(ms, "PodDisruptionBudget", "gw-gatehouse") == nil {
				t.Errorf("no PodDisruptionBudget for 3 replicas: %v", kinds(ms))
			}
			_, c := workload(t, ms)
			env := fmt.Sprint(c["env"])
			if !strings.Contains(env, "GATEHOUSE_STATE_REDIS_URL value:rediss://redis.agents.svc:6379/0") || !strings.Contains(env, "GATEHOUSE_REDIS_PASSWORD") {
				t.Errorf("env %s", env)
			}
			cfg := gatehouseConfig(t, ms)
			if dig(cfg, "state", "redis", "password_env") != "GATEHOUSE_REDIS_PASSWORD" || dig(cfg, "policy", "bundle_url") != "https://policy.example.com/bundle.tar.gz" ||
				dig(cfg, "policy", "rego_mode") != "monitor" || dig(cfg, "policy", "bundle") != nil {
				t.Errorf("configuration %v", cfg)
			}
			// Legacy sessions are routed between the three by their stable names.
			if !strings.Contains(env, "POD_NAME valueFrom:map[fieldRef:map[fieldPath:metadata.name]]") ||
				!strings.Contains(env, "GATEHOUSE_REPLICA_KEY valueFrom:map[secretKeyRef:map[key:replica-key name:gw-gatehouse]]") {
				t.Errorf("env %s", env)
			}
			peers, _ := dig(cfg, "replicas", "peers").(map[string]any)
			if dig(cfg, "replicas", "name") != "${POD_NAME}" || dig(cfg, "replicas", "key_env") != "GATEHOUSE_REPLICA_KEY" || len(peers) != 3 ||
				peers["gw-gatehouse-2"] != "http://gw-gatehouse-2.gw-gatehouse-headless.agents.svc:8080" {
				t.Errorf("replicas %v", cfg["replicas"])
			}
			if key := secretData(t, find(ms, "Secret", "gw-gatehouse"), "replica-key"); len(key) < 43 {
				t.Errorf("the generated replica key has %d characters", len(key))
			}
		}, []manifest{redisPassword}},
		{"TLS, an existing Secret and JWT callers", `
existingSecret: gatehouse-credentials
tls: {secretName: gatehouse-tls}
config:
  auth:
    jwt: {issuer: "https://id.example.com/", jwks: {url: "https://id.example.com/jwks"}}
    resource: {uri: "https://gatehouse.agents.svc:8080/mcp"}
  upstreams: [{name: search, url: "https://search.example.com/mcp"}]
`, func(t *testing.T, ms []manifest) {
			if find(ms, "Secret", "gw-gatehouse") != nil {
				t.Error("a Secret was generated next to existingSecret")
			}
			_, c := workload(t, ms)
			if str(c, "readinessProbe", "httpGet", "scheme") != "HTTPS" || str(c, "livenessProbe", "httpGet", "scheme") != "HTTPS" {
				t.Errorf("probes %v %v", c["readinessProbe"], c["livenessProbe"])
			}
			if env := fmt.Sprint(c["env"]); strings.Contains(env, "API_KEY") || !strings.Contains(env, "gatehouse-credentials") {
				t.Errorf("env %s", env)
			}
			cfg := gatehouseConfig(t, ms)
			if dig(cfg, "tls", "cert") != "/etc/gatehouse/tls/tls.crt" || dig(cfg, "auth", "jwt", "issuer") != "https://id.example.com/" || dig(cfg, "auth", "api_keys") != nil ||
				dig(cfg, "tenancy", "enabled") != nil || len(dig(cfg, "upstreams").([]any)) != 1 {
				t.Errorf("configuration %v", cfg)
			}
		}, []manifest{tlsSecret, credentials}},
		{"three replicas over TLS with an existing Secret", `
replicaCount: 3
redis: {url: "rediss://redis.agents.svc:6379/0"}
existingSecret: gatehouse-credentials
tls: {secretName: gatehouse-tls}
sessionRouting: {caFile: /etc/gatehouse/tls/ca.crt}
`, func(t *testing.T, ms []manifest) {
			_, c := workload(t, ms)
			if env := fmt.Sprint(c["env"]); !strings.Contains(env, "GATEHOUSE_REPLICA_KEY valueFrom:map[secretKeyRef:map[key:replica-key name:gatehouse-credentials]]") {
				t.Errorf("env %s", env)
			}
			cfg := gatehouseConfig(t, ms)
			peers, _ := dig(cfg, "replicas", "peers").(map[string]any)
			if peers["gw-gatehouse-0"] != "https://gw-gatehouse-0.gw-gatehouse-headless.agents.svc:8080" || dig(cfg, "replicas", "ca_file") != "/etc/gatehouse/tls/ca.crt" {
				t.Errorf("replicas %v", cfg["replicas"])
			}
		}, []manifest{tlsWithCA, secretManifest("gatehouse-credentials", map[string]string{"admin-token": "an admin token",
			"admin-token-sha256": hex.EncodeToString(sum[:]), "api-key": "an API key", "api-key-hash": "sha256:" + hex.EncodeToString(apiSum[:]),
			"replica-key": "a key the replicas share, 32+ bytes"})}},
		{"a Deployment of three replicas: no session routing", `
replicaCount: 3
redis: {url: "redis://redis.agents.svc:6379/0"}
persistence: {enabled: false}
`, func(t *testing.T, ms []manifest) {
			_, c := workload(t, ms)
			if cfg := gatehouseConfig(t, ms); cfg["replicas"] != nil || strings.Contains(fmt.Sprint(c["env"]), "REPLICA_KEY") {
				t.Errorf("pods without stable names route sessions: %v", cfg["replicas"])
			}
		}, nil},
		{"the Rego engine off, rules only", `
policy:
  enabled: false
  rules: "version: 1\ndefault_effect: deny\nrules: []\n"
`, func(t *testing.T, ms []manifest) {
			cfg := gatehouseConfig(t, ms)
			if dig(cfg, "policy", "enabled") != false || dig(cfg, "policy", "bundle") != nil || dig(cfg, "policy", "rules") == nil {
				t.Errorf("policy %v", cfg["policy"])
			}
		}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			vf := valuesFile(t, c.values)
			if out, err := exec.Command(helm, "lint", "--strict", "--kube-version", kube, "--values", vf,
				filepath.Join(repoRoot, "deploy", "helm", "gatehouse")).CombinedOutput(); err != nil {
				t.Fatalf("helm lint: %v\n%s", err, out)
			}
			text, err := renderChart(t, helm, kube, c.values)
			if err != nil {
				t.Fatal(err)
			}
			validate := exec.Command(kubeconform, "-strict", "-summary", "-kubernetes-version", kube, "-schema-location", schemas)
			validate.Stdin = strings.NewReader(text)
			if out, err := validate.CombinedOutput(); err != nil || !strings.Contains(string(out), "Invalid: 0, Errors: 0, Skipped: 0") {
				t.Fatalf("kubeconform: %v\n%s\n%s", err, out, text)
			}
			ms := parseManifests(t, text)
			c.check(t, ms)
			checkPod(t, ms, c.extra...)
		})
	}
}

// secretManifest is a Secret named name holding data.
func secretManifest(name string, data map[string]string) manifest {
	encoded := map[string]any{}
	for k, v := range data {
		encoded[k] = base64.StdEncoding.EncodeToString([]byte(v))
	}
	return manifest{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": name}, "data": encoded}
}

// selfSigned returns a kubernetes.io/tls Secret's keys: a self-signed certificate and its key.
func selfSigned(t *testing.T) map[string]string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gatehouse.agents.svc"},
		DNSNames: []string{"gatehouse.agents.svc"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(key)
	return map[string]string{
		"tls.crt": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		"tls.key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})),
	}
}

// TestHelmChartRefuses renders values that would not run, or not safely, and expects helm to refuse
// them with a message that says what to do.
func TestHelmChartRefuses(t *testing.T) {
	helm, _, _, kube := helmTools(t)
	for _, c := range []struct{ values, want string }{
		{"replicaCount: 2", "replicaCount > 1 needs redis.url"},
		{"policy: {enabled: false}", "give a policy, or set config.mode: off"},
		{"config: {listen: 0.0.0.0:1}", "config.listen is set by the chart"},
		{"config: {admin: {token_sha256: abc}}", "config.admin.token_sha256 is set by the chart"},
		{"config: {audit: {path: /tmp/a.jsonl}}", "config.audit.path is set by the chart"},
		{"policy: {bundleSha256: \"" + strings.Repeat("0", 64) + "\"}", "needs policy.bundleUrl"},
		{"policy: {bundleUrl: \"https://x/b.tar.gz\", bundle: {files: {a.rego: x}}}", "give one bundle"},
		{"policy: {bundle: {files: {\"..data\": x}}}", "..data"},
		{"redis: {passwordSecret: {name: r}}", "redis.passwordSecret needs redis.url"},
		{"replicaCount: two", "replicaCount"},
		{"replicas: 2", "replicas"},
		{"policy: {bundle: {files: {\"gatehouse/policy.rego\": x}}}", "gatehouse/policy.rego"},
		{"policy: {mode: strict}", "mode"},
		{"redis: {url: \"http://redis:6379\"}", "url"},
	} {
		_, err := renderChart(t, helm, kube, c.values)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("values %q: %v, want a refusal naming %q", c.values, err, c.want)
		}
	}
}

// podLayout is a rendered pod laid out under root as kubelet would lay it out.
type podLayout struct {
	root, config string
	args, env    []string
	bundleDir    string
	secrets      map[string]map[string][]byte
}

// layOutPod lays out the rendered pod's volumes under a temporary root as kubelet would (ConfigMaps
// and Secrets as links into a swapped ..data snapshot, Secrets with the fsGroup's mode), with the
// container's arguments and environment (secretKeyRefs resolved). extra are objects the user would
// have created (an existingSecret, a TLS Secret). Paths of the pod are moved under the root and, with
// loopback, its listeners to 127.0.0.1 (tests listen on loopback only).
func layOutPod(t *testing.T, ms []manifest, loopback bool, extra ...manifest) *podLayout {
	t.Helper()
	root := t.TempDir()
	pairs := []string{"/etc/gatehouse/", root + "/etc/gatehouse/", "/var/lib/gatehouse", root + "/var/lib/gatehouse"}
	if loopback {
		pairs = append(pairs, "0.0.0.0:", "127.0.0.1:")
	}
	rewrite := strings.NewReplacer(pairs...).Replace
	ms = append(slices.Clone(ms), extra...)
	objects := func(kind string) map[string]map[string][]byte {
		out := map[string]map[string][]byte{}
		for _, m := range ms {
			if m["kind"] != kind {
				continue
			}
			data := map[string][]byte{}
			for k, v := range dig(m, "data").(map[string]any) {
				if kind == "Secret" {
					b, _ := base64.StdEncoding.DecodeString(v.(string))
					data[k] = b
				} else {
					data[k] = []byte(rewrite(v.(string)))
				}
			}
			out[str(m, "metadata", "name")] = data
		}
		return out
	}
	configMaps, secrets := objects("ConfigMap"), objects("Secret")
	w, c := workload(t, ms)
	volumes := map[string]any{}
	for _, v := range dig(w, "spec", "template", "spec", "volumes").([]any) {
		volumes[str(v, "name")] = v
	}
	pod := &podLayout{root: root, secrets: secrets}
	for _, m := range dig(c, "volumeMounts").([]any) {
		dir := root + str(m, "mountPath")
		v := volumes[str(m, "name")]
		switch {
		case dig(v, "configMap") != nil:
			kubeletVolume(t, dir, "..snap1", configMaps[str(v, "configMap", "name")], 0o644)
			if str(m, "name") == "bundle" {
				pod.bundleDir = dir
			}
		case dig(v, "secret") != nil:
			files := secrets[str(v, "secret", "secretName")]
			if files == nil {
				t.Fatalf("the pod mounts Secret %s, which neither the chart nor the test made", str(v, "secret", "secretName"))
			}
			kubeletVolume(t, dir, "..snap1", files, 0o400)
		default: // emptyDir, or the StatefulSet's volume claim
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	pod.env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + root, "MCP_DATA_ROOT=" + root + "/var/lib/gatehouse/data"} // the image's ENV
	for _, e := range dig(c, "env").([]any) {
		value := str(e, "value")
		if ref := dig(e, "valueFrom", "secretKeyRef"); ref != nil {
			v, ok := secrets[str(ref, "name")][str(ref, "key")]
			if !ok {
				t.Fatalf("env %s: Secret %s has no key %s", str(e, "name"), str(ref, "name"), str(ref, "key"))
			}
			value = string(v)
		}
		if ref := dig(e, "valueFrom", "fieldRef"); ref != nil {
			if str(ref, "fieldPath") != "metadata.name" {
				t.Fatalf("env %s: field %s is not laid out here", str(e, "name"), str(ref, "fieldPath"))
			}
			value = "gw-gatehouse-0" // the first pod of the StatefulSet
		}
		pod.env = append(pod.env, str(e, "name")+"="+value)
	}
	for _, a := range dig(c, "args").([]any) {
		pod.args = append(pod.args, rewrite(a.(string)))
	}
	pod.config = pod.args[slices.Index(pod.args, "--config")+1]
	return pod
}

// checkPod runs gatehouse check on the laid-out pod's configuration, with its environment: the
// configuration the chart renders must load as gatehouse serve loads it, listeners on 0.0.0.0 and all.
func checkPod(t *testing.T, ms []manifest, extra ...manifest) {
	t.Helper()
	pod := layOutPod(t, ms, false, extra...)
	cmd := exec.Command(gatehouseBin, "check", "--config", pod.config)
	cmd.Env, cmd.Dir = pod.env, pod.root
	if out, err := cmd.CombinedOutput(); err != nil {
		cfg, _ := os.ReadFile(pod.config)
		t.Errorf("gatehouse check of the rendered configuration: %v\n%s\n%s", err, out, cfg)
	}
}

// podRun is a rendered pod started here.
type podRun struct {
	*podLayout
	mcp, apiKey string
}

// runPod lays out the rendered pod (layOutPod), starts the container's command with the gatehouse
// binary, and waits for its readiness probe (a GET without the admin token, as kubelet's) to pass.
func runPod(t *testing.T, ms []manifest) *podRun {
	t.Helper()
	run := &podRun{podLayout: layOutPod(t, ms, true)}
	_, c := workload(t, ms)
	cmd := exec.Command(gatehouseBin, run.args...)
	cmd.Env, cmd.Dir = run.env, run.root+"/var/lib/gatehouse" // the image's WORKDIR
	logs := start(t, cmd)
	cfg := gatehouseConfig(t, ms)
	admin := strings.Replace(str(cfg, "admin", "listen"), "0.0.0.0:", "127.0.0.1:", 1)
	probe := func(name string) (int, error) {
		resp, err := http.Get("http://" + admin + str(c, name, "httpGet", "path"))
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, err := probe("readinessProbe")
		if status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the readiness probe never passed: %d %v\n%s", status, err, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, name := range []string{"livenessProbe", "startupProbe"} {
		if status, err := probe(name); status != http.StatusOK {
			t.Fatalf("the %s: %d %v", name, status, err)
		}
	}
	run.mcp = "http://" + strings.Replace(str(cfg, "listen"), "0.0.0.0:", "127.0.0.1:", 1) + "/mcp"
	for _, s := range run.secrets {
		if k, ok := s["api-key"]; ok {
			run.apiKey = string(k)
		}
	}
	return run
}

// kubeletVolume writes files into dir as kubelet does a ConfigMap or Secret volume: into a hidden
// snapshot directory, with ..data linked to it (replaced atomically on an update) and a link per
// file. Called again with a new snapshot name, it updates the volume in place.
func kubeletVolume(t *testing.T, dir, snapshot string, files map[string][]byte, mode os.FileMode) {
	t.Helper()
	snap := filepath.Join(dir, snapshot)
	if err := os.MkdirAll(snap, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		p := filepath.Join(snap, name)
		if err := os.WriteFile(p, body, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(snapshot, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for name := range files {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// chartPorts are values that put the pod's listeners on free ports.
func chartPorts(t *testing.T) string {
	_, mcp, _ := net.SplitHostPort(freeAddr(t))
	_, admin, _ := net.SplitHostPort(freeAddr(t))
	return fmt.Sprintf("service: {port: %s}\nadmin: {port: %s}\n", mcp, admin)
}

// TestHelmChartPodWithDefaults runs the pod the chart's defaults describe: the starter policies, the
// built-in file tools, and callers holding the generated API key.
func TestHelmChartPodWithDefaults(t *testing.T) {
	helm, _, _, kube := helmTools(t)
	text, err := renderChart(t, helm, kube, chartPorts(t))
	if err != nil {
		t.Fatal(err)
	}
	pod := runPod(t, parseManifests(t, text))
	if status, _, _ := modernCallAs(pod.mcp, "", "tools/list", nil); status != http.StatusUnauthorized {
		t.Errorf("tools/list without the API key: HTTP %d, want 401", status)
	}
	if status, body, err := modernCallAs(pod.mcp, "not-the-key", "tools/list", nil); err == nil && status != http.StatusUnauthorized {
		t.Errorf("tools/list with a wrong key: HTTP %d %v", status, body)
	}
	_, body, err := modernCallAs(pod.mcp, pod.apiKey, "tools/call", map[string]any{"name": "fs.write", "arguments": map[string]any{"path": "notes/plan.md", "content": "# plan\n"}})
	if err != nil || dig(body, "result", "isError") == true || dig(body, "result") == nil {
		t.Fatalf("fs.write with the generated API key: %v %v", body, err)
	}
	_, body, err = modernCallAs(pod.mcp, pod.apiKey, "tools/call", map[string]any{"name": "fs.read", "arguments": map[string]any{"path": "notes/plan.md"}})
	if err != nil || !strings.Contains(fmt.Sprint(body), "# plan") {
		t.Errorf("fs.read: %v %v", body, err)
	}
}

// TestHelmChartPodReloadsConfigMapBundle runs a pod whose Rego bundle is a ConfigMap and updates the
// ConfigMap in place, as kubelet does after helm upgrade or kubectl apply: the next poll loads it,
// without a restart.
func TestHelmChartPodReloadsConfigMapBundle(t *testing.T) {
	helm, _, _, kube := helmTools(t)
	values := chartPorts(t) + `
persistence: {enabled: false}
policy:
  pollSeconds: 1
  bundle:
    files:
      .manifest: '{"revision": "one"}'
      data.json: '{"gatehouse": {"denied": ["fs.write"]}}'
      policy.rego: |
` + indent(bundlePolicy, "        ")
	text, err := renderChart(t, helm, kube, values)
	if err != nil {
		t.Fatal(err)
	}
	pod := runPod(t, parseManifests(t, text))
	write := func() (map[string]any, error) {
		_, body, err := modernCallAs(pod.mcp, pod.apiKey, "tools/call", map[string]any{"name": "fs.write", "arguments": map[string]any{"path": "a.txt", "content": "x"}})
		return body, err
	}
	body, err := write()
	if err != nil || reason(body) != "policy_deny" || !strings.Contains(fmt.Sprint(body), "no-writes") {
		t.Fatalf("fs.write under revision one: %v %v, want policy_deny by no-writes", body, err)
	}
	kubeletVolume(t, pod.bundleDir, "..snap2", map[string][]byte{
		".manifest": []byte(`{"revision": "two"}`), "data.json": []byte(`{"gatehouse": {"denied": []}}`), "policy.rego": []byte(bundlePolicy),
	}, 0o644)
	deadline := time.Now().Add(15 * time.Second)
	for {
		body, err = write()
		if err == nil && dig(body, "result") != nil && dig(body, "result", "isError") != true {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fs.write after the ConfigMap's update: %v %v", body, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// TestChartValuesDocumented requires every value of the chart's values.yaml in docs/kubernetes.md's
// table: a value, or a map of values documented as one.
func TestChartValuesDocumented(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "helm", "gatehouse", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "kubernetes.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(doc), "<!-- values-table")
	table, _, _ = strings.Cut(table, "<!-- end values-table -->")
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			key := prefix + k
			if strings.Contains(table, "`"+key+"`") {
				continue
			}
			if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
				walk(key+".", sub)
				continue
			}
			t.Errorf("value %s is not in docs/kubernetes.md's values table", key)
		}
	}
	walk("", values)
}

// TestHelmChartLongNames: a long release name still gives object names Kubernetes accepts (63
// characters; a StatefulSet's 52, as its pods' revision label adds 11).
func TestHelmChartLongNames(t *testing.T) {
	helm, _, _, kube := helmTools(t)
	text, err := renderChart(t, helm, kube, "fullnameOverride: "+strings.Repeat("g", 70)+"\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range parseManifests(t, text) {
		limit := 63
		if m["kind"] == "StatefulSet" {
			limit = 52
		}
		if name := str(m, "metadata", "name"); len(name) > limit {
			t.Errorf("%s %s: %d characters, more than %d", m["kind"], name, len(name), limit)
		}
	}
}
