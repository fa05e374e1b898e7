package upstream

import (
	"slices"
	"testing"
)

func TestChildEnv(t *testing.T) {
	env := []string{"PATH=/bin", "GATEHOUSE_AGENT_TOKEN=t", "GATEHOUSE_ADMIN_TOKEN=a", "WEATHER_SECRET=w", "HOME=/root", "GATEHOUSEX=kept", "NOEQUALS"}
	got := ChildEnv(env, []string{"WEATHER_SECRET"})
	want := []string{"PATH=/bin", "HOME=/root", "GATEHOUSEX=kept", "NOEQUALS"}
	if !slices.Equal(got, want) {
		t.Errorf("ChildEnv = %q, want %q", got, want)
	}
}
