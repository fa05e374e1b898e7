// Package pin detects rug pulls (SPEC §9.3): an MCP server that shows a harmless tool definition when
// it is first reviewed and swaps in a different one later — a description with hidden instructions,
// a schema asking for new data — relying on clients that never look at a definition twice.
//
// The Pinner hashes every tool definition a tools/list result carries (name, title, description,
// input and output schemas, annotations; canonicalized so that member order and white space do not
// matter) and pins the hash per upstream and tool the first time it is seen. A later definition
// with another hash is reported for the audit log and, by configuration, the tool is hidden from
// lists (and its calls refused) or listed with its calls held for approval, until an operator
// approves the new definition. Optionally every new definition is also run through the threat
// scanner, and one that reads as tool poisoning is quarantined the same way on first sight.
//
// Pins live behind the Store interface, with an in-memory implementation here; a shared store lets
// replicas agree on what was approved. The Stage adds the quarantine to the request path and to list
// filtering, so that what a client sees listed is what it may call (SPEC §3.4).
package pin
