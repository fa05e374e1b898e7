package cli

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/gatehouse-mcp/gatehouse/internal/config"
	"github.com/gatehouse-mcp/gatehouse/internal/fstools"
	"github.com/gatehouse-mcp/gatehouse/internal/gateway"
)

// fsToolset serves the built-in file tools as an in-process upstream. fstools names its tools
// fs.read, fs.write, fs.list; the upstream knows them as read, write, list and federation adds the
// upstream's prefix ("fs" unless configured otherwise) back.
type fsToolset struct {
	tools *fstools.Tools
	defs  []gateway.LocalTool
}

func newFSToolset(spec config.BuiltinFSConfig) (*fsToolset, error) {
	minFree := int64(0) // fstools' default
	if spec.MinFreeMB != nil {
		minFree = int64(*spec.MinFreeMB) << 20
		if minFree == 0 {
			minFree = -1 // off
		}
	}
	t, err := fstools.New(fstools.Config{Root: spec.DataRoot, MaxFileBytes: int64(spec.MaxFileMB) << 20,
		MinFreeBytes: minFree, AllowMIME: spec.AllowMIME, BlockMIME: spec.BlockMIME})
	if err != nil {
		return nil, err
	}
	s := &fsToolset{tools: t}
	for _, tool := range t.List() {
		tool.Name = strings.TrimPrefix(tool.Name, "fs.")
		def, err := json.Marshal(tool)
		if err != nil {
			t.Close()
			return nil, err
		}
		s.defs = append(s.defs, gateway.LocalTool{Name: tool.Name, Definition: def})
	}
	return s, nil
}

// Tools implements gateway.Toolset.
func (s *fsToolset) Tools() []gateway.LocalTool { return s.defs }

// Call implements gateway.Toolset.
func (s *fsToolset) Call(ctx context.Context, call gateway.LocalCall) (json.RawMessage, error) {
	return s.tools.Call(ctx, call.Engagement, "fs."+call.Tool, call.Arguments)
}

// Close releases the data root.
func (s *fsToolset) Close() error { return s.tools.Close() }
