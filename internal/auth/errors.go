package auth

import (
	"errors"
	"net/http"
)

// RFC 6750 §3.1 error codes, the values of Error.Code.
const (
	// CodeInvalidToken: the credential is malformed, expired, revoked, for another audience, or
	// could not be verified. HTTP 401; the client should get a new token.
	CodeInvalidToken = "invalid_token"
	// CodeInsufficientScope: the token is valid but lacks a required scope. HTTP 403; the client
	// should ask for the scopes in the challenge (step-up authorization).
	CodeInsufficientScope = "insufficient_scope"
	// CodeInvalidRequest: the request is malformed, e.g. it carries more than one credential.
	// HTTP 400.
	CodeInvalidRequest = "invalid_request"
)

// Error is why a request was not authenticated, in the terms a client may see. Status is the HTTP
// status to answer with; Code is the RFC 6750 error code, empty when the request carried no
// credential at all (RFC 6750 §3.1 says such a challenge carries no error); Description is a fixed,
// generic sentence. What actually went wrong (which check failed, why a signature did not verify)
// is kept in the wrapped cause, for logs only: telling an attacker which part of a forged token was
// wrong helps them forge the next one.
type Error struct {
	// Status is the HTTP status to answer with: 401, 403 or 400.
	Status int
	// Code is the RFC 6750 error code (CodeInvalidToken, CodeInsufficientScope,
	// CodeInvalidRequest), or empty when the request carried no credential.
	Code string
	// Description is the fixed sentence sent as error_description; safe to show anyone.
	Description string

	cause  error  // the detail, for logs
	result string // the result label of gatehouse_auth_requests_total
	// cacheable marks failures that the same token will always meet again (a bad signature, a wrong
	// audience), as opposed to ones that may pass in a moment (the JWKS URL is down, an unknown key
	// id before the rotation is published).
	cacheable bool
}

var (
	_ error = (*Error)(nil)
	_ error = (*FieldError)(nil)
)

// Error describes the failure for logs, including the detail; never send it to a client.
func (e *Error) Error() string {
	s := "authentication failed: " + e.Description
	if e.Code != "" {
		s = "authentication failed (" + e.Code + "): " + e.Description
	}
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

// Unwrap returns the detailed cause.
func (e *Error) Unwrap() error { return e.cause }

// The metric results of a failed authentication.
const (
	resultOK           = "ok"
	resultMissing      = "missing"
	resultInvalid      = "invalid"
	resultExpired      = "expired"
	resultForbidden    = "insufficient_scope"
	resultBadRequest   = "bad_request"
	resultUnavailable  = "unavailable"
	descMissing        = "authentication required"
	descInvalid        = "the access token is invalid"
	descExpired        = "the access token has expired"
	descScope          = "the access token lacks a required scope"
	descMultiple       = "the request carries more than one credential"
	descCredentialsBad = "the credentials are invalid"
)

func errMissing() *Error {
	return &Error{Status: http.StatusUnauthorized, Description: descMissing, result: resultMissing,
		cause: errors.New("no credentials")}
}

func errInvalid(cause error) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: CodeInvalidToken, Description: descInvalid,
		cause: cause, result: resultInvalid, cacheable: true}
}

func errBadKey(cause error) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: CodeInvalidToken, Description: descCredentialsBad,
		cause: cause, result: resultInvalid}
}

func errExpiredToken(cause error) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: CodeInvalidToken, Description: descExpired,
		cause: cause, result: resultExpired, cacheable: true}
}

// errUnverifiable is a token that could not be checked because its keys could not be had. It is
// refused (fail closed) with the same words as an invalid token: the client cannot do better than
// retry, and an attacker learns nothing about the identity provider's health.
func errUnverifiable(cause error) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: CodeInvalidToken, Description: descInvalid,
		cause: cause, result: resultUnavailable}
}

// errUnknownKey is a token naming a key id the key set lacks even after a refresh (or when the rate
// limit forbade one). Not cached: the key may be published a moment later.
func errUnknownKey(cause error) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: CodeInvalidToken, Description: descInvalid,
		cause: cause, result: resultInvalid}
}

func errScope(cause error) *Error {
	return &Error{Status: http.StatusForbidden, Code: CodeInsufficientScope, Description: descScope,
		cause: cause, result: resultForbidden, cacheable: true}
}

func errMultiple(cause error) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Description: descMultiple,
		cause: cause, result: resultBadRequest}
}
