package agenttoken

import "errors"

// Code is a stable snake_case name for why a token was refused. Codes are part of the interface:
// operators match on them in logs and the audit reason, and tests pin them.
type Code string

// The refusal codes, in the order Verify checks for them.
const (
	// CodeEmpty: no token was given.
	CodeEmpty Code = "token_empty"
	// CodeTooLarge: the token is longer than MaxTokenBytes; it is refused before any parsing.
	CodeTooLarge Code = "token_too_large"
	// CodeMalformed: not a compact JWS of three strict base64url parts with a JSON header, or a
	// header member gatehouse does not accept (crit, jku, …), or a signature of the wrong length.
	CodeMalformed Code = "token_malformed"
	// CodeUnsigned: the header says "alg":"none".
	CodeUnsigned Code = "token_unsigned"
	// CodeWrongScheme: the token is signed with an algorithm other than the one of the verifier's
	// scheme: a downgrade or a token meant for another gatehouse.
	CodeWrongScheme Code = "token_wrong_scheme"
	// CodeWrongType: the "typ" header is not Type, so the JWT is not a gatehouse agent token (an
	// OAuth access token or an ID token, for example) even if it is validly signed.
	CodeWrongType Code = "token_wrong_type"
	// CodeWrongKey: the signature does not verify and the token names (kid) a key other than the
	// verifier's: it was issued with another key pair.
	CodeWrongKey Code = "token_wrong_key"
	// CodeBadSignature: the signature does not verify: the token was tampered with or signed with
	// another secret.
	CodeBadSignature Code = "token_bad_signature"
	// CodeInvalidClaims: the signed claims are not a JSON object of the expected types, or a name in
	// them is not acceptable (control characters, too long, duplicate roles).
	CodeInvalidClaims Code = "token_invalid_claims"
	// CodeSchemeMismatch: the "scheme" claim is missing or names another scheme than the signature
	// algorithm.
	CodeSchemeMismatch Code = "token_scheme_mismatch"
	// CodeNoSubject: the token names no agent ("sub" missing or empty).
	CodeNoSubject Code = "token_no_subject"
	// CodeNoExpiry: the token has no "exp": gatehouse accepts no token that is valid forever.
	CodeNoExpiry Code = "token_no_expiry"
	// CodeExpired: "exp" is in the past, beyond ClockSkew.
	CodeExpired Code = "token_expired"
	// CodeNotYetValid: "nbf" or "iat" is in the future, beyond ClockSkew.
	CodeNotYetValid Code = "token_not_yet_valid"
)

// Error is why a token was refused. Message never contains the token or a secret.
type Error struct {
	Code    Code
	Message string
}

// Error implements error: "agent token <message> (<code>)".
func (e *Error) Error() string { return "agent token " + e.Message + " (" + string(e.Code) + ")" }

// Is makes errors.Is(err, &Error{Code: c}) match any refusal with code c.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// CodeOf returns the refusal code of err, or "" when err is not a token refusal.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func refuse(code Code, message string) *Error { return &Error{Code: code, Message: message} }
