package redact

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
)

// NewHandler wraps h so that no log line carries a secret: the message and every attribute —
// including attributes added with Logger.With, and those inside groups — are redacted before h sees
// them. An attribute or group whose key is sensitive has its whole value replaced by [REDACTED];
// strings, errors and Stringers go through Text; maps, slices and structs are turned into JSON and
// go through JSON (so a struct's Password field is caught by its name); integers that are card
// numbers become [REDACTED_CARD]. LogValuers are resolved first.
func NewHandler(h slog.Handler) slog.Handler { return &handler{h: h} }

type handler struct {
	h slog.Handler
	// all is set inside a group whose name is sensitive: every value below it is redacted.
	all bool
}

var _ slog.Handler = (*handler)(nil)

// Enabled implements slog.Handler.
func (x *handler) Enabled(ctx context.Context, l slog.Level) bool { return x.h.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (x *handler) Handle(ctx context.Context, r slog.Record) error {
	nr := slog.NewRecord(r.Time, r.Level, Text(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		nr.AddAttrs(x.attr(a, x.all))
		return true
	})
	return x.h.Handle(ctx, nr)
}

// WithAttrs implements slog.Handler.
func (x *handler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = x.attr(a, x.all)
	}
	return &handler{h: x.h.WithAttrs(red), all: x.all}
}

// WithGroup implements slog.Handler.
func (x *handler) WithGroup(name string) slog.Handler {
	return &handler{h: x.h.WithGroup(Text(name)), all: x.all || SensitiveKey(name)}
}

// attr redacts one attribute; all is set when an enclosing group's name is sensitive.
func (x *handler) attr(a slog.Attr, all bool) slog.Attr {
	a.Value = a.Value.Resolve()
	key := Text(a.Key)
	hide := all || a.Key != "" && SensitiveKey(a.Key)
	if a.Value.Kind() == slog.KindGroup {
		if hide && a.Key != "" {
			return slog.String(key, Redacted)
		}
		group := a.Value.Group()
		red := make([]slog.Attr, len(group))
		for i, g := range group {
			red[i] = x.attr(g, hide)
		}
		return slog.Attr{Key: key, Value: slog.GroupValue(red...)}
	}
	if hide {
		if a.Value.Kind() == slog.KindBool || a.Value.Kind() == slog.KindAny && a.Value.Any() == nil {
			return slog.Attr{Key: key, Value: a.Value}
		}
		return slog.String(key, Redacted)
	}
	switch a.Value.Kind() {
	case slog.KindString:
		return slog.String(key, Text(a.Value.String()))
	case slog.KindInt64:
		if isCard(strconv.FormatInt(a.Value.Int64(), 10)) {
			return slog.String(key, RedactedCard)
		}
	case slog.KindUint64:
		if isCard(strconv.FormatUint(a.Value.Uint64(), 10)) {
			return slog.String(key, RedactedCard)
		}
	case slog.KindAny:
		return slog.Attr{Key: key, Value: anyValue(a.Value.Any())}
	}
	return slog.Attr{Key: key, Value: a.Value}
}

// anyValue redacts a value of slog.KindAny.
func anyValue(v any) slog.Value {
	switch t := v.(type) {
	case nil:
		return slog.AnyValue(nil)
	case error:
		return slog.StringValue(Text(t.Error()))
	case json.RawMessage:
		return slog.AnyValue(json.RawMessage(JSON(t)))
	case []byte:
		return slog.StringValue(Text(string(t)))
	case map[string]any, []any, map[string]string, []string, json.Number, float64:
		return slog.AnyValue(Value(t))
	case fmt.Stringer:
		return slog.StringValue(Text(t.String()))
	}
	b, err := json.Marshal(v)
	if err != nil {
		return slog.StringValue(Text(fmt.Sprintf("%+v", v)))
	}
	return slog.AnyValue(json.RawMessage(JSON(b)))
}
