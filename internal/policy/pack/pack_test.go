package pack

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const (
	publishedPack     = "../../../examples/workflow-pack/mcp-gateway-policy.json"
	publishedManifest = "../../../examples/workflow-pack/workflow-manifests.json"
)

func loadPack(t testing.TB, path string) *Pack {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Load(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return p
}

func request(t *testing.T, js string) *Object {
	t.Helper()
	v, err := Decode([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return v.(*Object)
}

// TestReferenceAnswers holds the evaluator to the answers the published one gave (testdata/reference).
func TestReferenceAnswers(t *testing.T) {
	for _, c := range []struct{ pack, answers string }{
		{publishedPack, "testdata/reference/published.jsonl"},
		{"testdata/reference/altered-pack.json", "testdata/reference/altered.jsonl"},
	} {
		t.Run(filepath.Base(c.answers), func(t *testing.T) {
			p := loadPack(t, c.pack)
			f, err := os.Open(c.answers)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			sc.Buffer(nil, 1<<20)
			n, seen := 0, map[string]int{}
			for sc.Scan() {
				n++
				line := request(t, sc.Text())
				req := line.get("request").(*Object)
				got, err := p.Evaluate(req)
				if want, raised := line.Get("error"); raised {
					if err == nil {
						t.Errorf("line %d: the published evaluator raised %v; got %s", n, want, got.Decision)
					}
					seen["error"]++
					continue
				}
				if err != nil {
					t.Errorf("line %d: %v", n, err)
					continue
				}
				seen[got.Decision]++
				if want, have := Dump(line.get("doc")), Dump(got.Doc); !bytes.Equal(want, have) {
					t.Errorf("line %d: request %s\nwant %s\n got %s", n, Dump(req), want, have)
				}
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			// Every kind of answer is among the cases, so none is left untested.
			for _, d := range append(decisions[:len(decisions):len(decisions)], "error") {
				if seen[d] == 0 && (d != AllowScopedTicket || c.pack == publishedPack) {
					t.Errorf("no case decided %s", d)
				}
			}
			t.Logf("%d answers: %v", n, seen)
		})
	}
}

// TestPublishedChecks are the four decisions the published repository's CI asks of its evaluator.
func TestPublishedChecks(t *testing.T) {
	p := loadPack(t, publishedPack)
	for _, c := range []struct{ want, req string }{
		{AllowScopedBranch, `{"workflow_id":"vulnerable-dependency-remediation","agent_id":"sr-agent::vulnerable-dependency-remediation::codex","run_id":"ci-allow","tool_namespace":"repo.contents","tool_access_mode":"write_branch","branch_name":"sec-auto-remediation/fix-cve","changed_paths":["package.json","package-lock.json"],"diff_line_count":120,"gate_phase":"tool_call"}`},
		{Deny, `{"workflow_id":"vulnerable-dependency-remediation","agent_id":"sr-agent::vulnerable-dependency-remediation::codex","run_id":"ci-deny","tool_namespace":"repo.contents","tool_access_mode":"write_branch","branch_name":"sec-auto-remediation/fix-cve","changed_paths":[".github/workflows/release.yml"],"diff_line_count":20,"gate_phase":"tool_call"}`},
		{HoldForApproval, `{"workflow_id":"artifact-cache-quarantine","agent_id":"sr-agent::artifact-cache-quarantine::codex","run_id":"ci-hold","tool_namespace":"registries.quarantine","tool_access_mode":"approval_required","gate_phase":"tool_call"}`},
		{KillSession, `{"workflow_id":"base-image-remediation","agent_id":"sr-agent::base-image-remediation::codex","run_id":"ci-kill","tool_namespace":"repo.contents","tool_access_mode":"write_branch","gate_phase":"runtime","runtime_kill_signal":"agent attempts registry write or deployment"}`},
	} {
		got, err := p.Evaluate(request(t, c.req))
		if err != nil || got.Decision != c.want {
			t.Errorf("%s: got %v %v (%v)", c.want, got.Decision, err, got.Violations)
		}
	}
}

// TestGeneratePublishedPack generates the published pack from its manifest, byte for byte. A copy
// of the manifest with CRLF line endings is another file: only its hash differs.
func TestGeneratePublishedPack(t *testing.T) {
	manifest, err := os.ReadFile(publishedManifest)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(publishedPack)
	if err != nil {
		t.Fatal(err)
	}
	opts := GenerateOptions{ManifestPath: "data/control-plane/workflow-manifests.json"}
	got, err := Generate(manifest, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the generated pack differs from the published one:\n%s", firstDifference(got, want))
	}
	crlf, err := Generate(bytes.ReplaceAll(manifest, []byte("\n"), []byte("\r\n")), opts)
	if err != nil {
		t.Fatal(err)
	}
	// The published generator hashes the file's bytes (Path.read_bytes), from Python 3.11.7:
	// 9b7008a5… for this manifest with CRLF line endings.
	const lf, crlfSum = "22f45f06fee190b602ac27f300c94d72ab38646f76a1ad2e4f80923a3a444ceb", "9b7008a57230d93f57ca469fb4fe289484c90195ae7409255639f94d300de9e9"
	if !bytes.Equal(bytes.Replace(crlf, []byte(crlfSum), []byte(lf), 1), want) {
		t.Errorf("a CRLF manifest: want the published pack with the hash %s", crlfSum)
	}
	// Anything else a pack records about its manifest shows.
	got, err = Generate(manifest, GenerateOptions{ManifestPath: "m.json", GeneratedAt: "2030-01-01"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(got, []byte(`"generated_at": "2030-01-01"`)) || !bytes.Contains(got, []byte(`"path": "m.json"`)) {
		t.Error("generated_at or the manifest path not recorded")
	}
	edited := bytes.Replace(manifest, []byte(`"max_diff_lines": 250`), []byte(`"max_diff_lines": 251`), 1)
	if got, _ := Generate(edited, opts); bytes.Equal(got, want) {
		t.Error("an edited manifest generated the same pack")
	}
}

func firstDifference(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return "line " + strconv.Itoa(i+1) + ":\n got  " + al[i] + "\n want " + bl[i]
		}
	}
	return "lengths differ"
}
