// Package jsonscan reads JSON (RFC 8259) from a byte slice token by token, without allocating (up to
// 64 levels of nesting).
//
// gatehouse reads a few small JSON messages on the path of every call: the JSON-RPC envelope of the
// request and of the answer, the request's params, the previews its audit record keeps. A general
// decoder costs more to set up, and touches far more code and memory, than reading such a message
// does; on a busy machine, where each call starts with cold caches, that cost is most of the reading.
// A Scanner is a few words of state and a loop.
//
// A Scanner checks the grammar of every token and the order of the tokens, and nothing else. It does
// not unescape strings or check their UTF-8, and it does not compare member names: its Flags say when
// a caller must. Object adds those checks for the strict reading of a JSON-RPC frame. Callers use
// both as a fast path in front of a full decoder (go-json-experiment's jsontext): what they read as
// ordinary is decided here, anything unusual (ErrUnusual, an escaped member name, a lone surrogate)
// is left to the decoder, which also words the errors. The fuzz tests hold the two to the same
// answers.
package jsonscan
