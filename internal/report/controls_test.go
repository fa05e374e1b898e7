package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestControlsGolden(t *testing.T) {
	for _, tc := range []struct {
		file  string
		write func(*bytes.Buffer) error
	}{
		{"controls.txt", func(b *bytes.Buffer) error { return WriteControlsText(b) }},
		{"controls.json", func(b *bytes.Buffer) error { return WriteControlsJSON(b) }},
		{"controls.md", func(b *bytes.Buffer) error { return WriteControlsMarkdown(b) }},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.write(&b); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.file, b.Bytes())
		})
	}
}

// TestMappingIsComplete checks the catalogue against itself: every control maps to items that
// exist, every framework item is addressed by some control, IDs are unique, and every control has
// evidence a report can count.
func TestMappingIsComplete(t *testing.T) {
	controls := Controls()
	items := map[string]map[string]bool{}
	for _, fw := range Frameworks() {
		items[fw.ID] = map[string]bool{}
		for _, it := range fw.Items {
			if items[fw.ID][it.ID] {
				t.Errorf("%s: item %s listed twice", fw.ID, it.ID)
			}
			items[fw.ID][it.ID] = true
			if it.Title == "" {
				t.Errorf("%s %s has no title", fw.ID, it.ID)
			}
			if fw.ID == NISTAIRMF && !strings.HasPrefix(it.ID, it.Function+" ") {
				t.Errorf("%s is filed under function %q", it.ID, it.Function)
			}
		}
	}
	if n := len(items[OWASPASI]); n != 10 {
		t.Errorf("%d OWASP ASI items, want ASI01..ASI10", n)
	}
	functions := map[string]bool{}
	for _, fw := range Frameworks() {
		if fw.ID != NISTAIRMF {
			continue
		}
		for _, it := range fw.Items {
			functions[it.Function] = true
		}
	}
	for _, f := range []string{"GOVERN", "MAP", "MEASURE", "MANAGE"} {
		if !functions[f] {
			t.Errorf("no NIST AI RMF item under %s", f)
		}
	}

	r := &Report{}
	seen := map[string]bool{}
	for _, c := range controls {
		if seen[c.ID] {
			t.Errorf("control %s listed twice", c.ID)
		}
		seen[c.ID] = true
		if c.Name == "" || c.Description == "" || c.Evidence == "" {
			t.Errorf("control %s lacks a name, description or evidence", c.ID)
		}
		if r.Evidence(c.ID) == "" {
			t.Errorf("control %s has no evidence in a report", c.ID)
		}
		for _, fw := range []string{NISTAIRMF, OWASPASI, NCCoE} {
			for _, id := range c.refs(fw) {
				if !items[fw][id] {
					t.Errorf("control %s maps to %s %q, which is not an item", c.ID, fw, id)
				}
			}
		}
	}
	for fw, ids := range items {
		cov := coverage(fw, controls)
		for id := range ids {
			if len(cov[id]) == 0 {
				t.Errorf("%s %s is addressed by no control", fw, id)
			}
		}
	}
}

func TestControlsJSONShape(t *testing.T) {
	var b bytes.Buffer
	if err := WriteControlsJSON(&b); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Controls []struct {
			ID  string   `json:"id"`
			ASI []string `json:"owasp_asi_2026"`
		} `json:"controls"`
		Frameworks []struct {
			ID    string `json:"id"`
			Items []struct {
				ID       string   `json:"id"`
				Title    string   `json:"title"`
				Controls []string `json:"controls"`
			} `json:"items"`
		} `json:"frameworks"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Controls) != len(Controls()) || len(got.Frameworks) != 3 {
		t.Fatalf("got %d controls and %d frameworks", len(got.Controls), len(got.Frameworks))
	}
	asi := got.Frameworks[0]
	if asi.ID != OWASPASI || asi.Items[2].ID != "ASI03" || asi.Items[2].Title != "Identity and Privilege Abuse" ||
		!strings.Contains(strings.Join(asi.Items[2].Controls, ","), "agent-identity") {
		t.Errorf("ASI03 = %+v, want Identity and Privilege Abuse addressed by agent-identity", asi.Items[2])
	}
}
