// Package adminapi holds what every admin API endpoint of gatehouse shares: strict JSON bodies in,
// JSON out. Authentication is the admin listener's, not this package's.
package adminapi

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/go-json-experiment/json"
)

// MaxBody bounds an admin request body.
const MaxBody = 64 << 10

// Decode reads r's body into v strictly: Content-Type application/json, at most MaxBody bytes, no
// unknown or duplicate members, nothing after the value. On failure it has answered (415, 413 or
// 400) and returns false.
func Decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		Error(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return false
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		Error(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body exceeds %d bytes", MaxBody))
		return false
	}
	if err != nil {
		Error(w, http.StatusBadRequest, "could not read the body")
		return false
	}
	if err := json.Unmarshal(data, v, json.RejectUnknownMembers(true)); err != nil {
		Error(w, http.StatusBadRequest, "invalid body: "+err.Error())
		return false
	}
	return true
}

// JSON answers v with status.
func JSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v, json.Deterministic(true))
	if err != nil {
		status, data = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(data, '\n'))
}

// Error answers {"error": msg} with status.
func Error(w http.ResponseWriter, status int, msg string) {
	JSON(w, status, map[string]string{"error": msg})
}
