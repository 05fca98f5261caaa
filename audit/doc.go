// Package audit holds Helios's security model: the signed, tamper-evident
// audit log, roles and the access policy, and (in audit/keys) encryption
// keys at rest. It is a leaf: it imports the standard library and
// golang.org/x/mod/sumdb/{tlog,note}, never objstore; audit/storeaudit
// adapts it to the store.
//
// # The log
//
// Every ref change, policy change, key change and search run appends a
// Record to an RFC 6962 Merkle tree (tlog: SHA-256, leaf hash
// SHA-256(0x00‖record), node hash SHA-256(0x01‖l‖r)), in the same atomic KV
// batch as the change: objstore calls the journal (storeaudit.Journal)
// inside every ref commit, and Store.Record for the other events. After
// every append the log signs a checkpoint (C2SP tlog-checkpoint text,
// Ed25519 via sumdb/note) over its new size and root. Key layout under
// objstore's reserved 'a' prefix: see the variables in log.go.
//
// What it protects against: anyone who edits, drops, inserts or reorders a
// record without the signing key is caught by Verify (stored hashes and
// the signed root no longer match). Someone who holds the signing key can
// rewrite the log and re-sign it; that is caught by clients, which keep the
// last checkpoint they saw and demand a consistency proof on every contact
// (CheckConsistency): a rewritten, rolled-back or forked history cannot
// prove itself an extension of a kept root. Timestamps are the writer's
// clock and prove nothing; order is the index. A store that shows
// different histories to clients that never compare checkpoints (split
// view) is caught by witnesses, below.
//
// # Witnesses
//
// A witness (witnessing.go) holds its own Ed25519 key and, per log
// origin, the log's pinned verifier key and the last checkpoint it
// cosigned; it cosigns a checkpoint only if a consistency proof shows it
// extends that one, so one witness never cosigns two forks. A cosignature
// is a C2SP tlog-cosignature v1 note signature line (cosign.go: key ID
// SHA-256(name ‖ "\n" ‖ 0x04 ‖ key)[:4], signature over "cosignature/v1\n
// time T\n" ‖ checkpoint). The store announces a WitnessPolicy (witness
// keys and a quorum; storeaudit keeps it under 'a' 'W', each change a
// logged "witnesses" record) and keeps the cosigned checkpoints of listed
// witnesses under 'a' 'w' (not logged: they are self-authenticating, and
// a record would move the log past the checkpoint it cosigns).
//
// Trust in witnesses is the client's: ClientWitnesses comes from
// $HELIOS_WITNESSES and $HELIOS_WITNESS_QUORUM, or else is the store's
// announcement, pinned beside the kept checkpoint the first time the
// client sees one and never changed by the store afterwards. After CheckConsistency, the
// client requires the log to extend a checkpoint carrying a quorum of
// cosignatures younger than MaxAge (CheckWitnessed), or with Strict the
// latest checkpoint itself to be cosigned. Without Strict, records after
// the last cosigned checkpoint are not yet witnessed: a client shown a
// fork there is caught once it is shown a newer cosigned checkpoint, and
// a store that keeps it on the fork must keep showing it old
// cosignatures, which expire after MaxAge (24 h by default).
//
// # Policy
//
// Policy (policy.go) is gitolite-style: ordered allow/deny rules over ref
// patterns and the operations read, write, force, delete; first match
// wins, default deny; an auditor reads and never writes. It is kept in the
// store under the 'a' 'p' key, and each change is a logged record carrying
// the old and new digest, so Verify-time checks (storeaudit.VerifyStore)
// can tell a policy changed behind the log's back. The serve process and
// the remote helper call Policy.Authorize(user, ref, op) before reading or
// moving a ref and Policy.AuthorizeAction for store-wide actions; a
// refusal is a *DeniedError.
//
// Refusals are logged too (Denial, event "denied": who, op, ref, the
// deciding rule), by helios serve and by the remote helper; the ref goes in
// the record's attributes, so replaying ref changes ignores it.
//
// # Tokens
//
// Bearer tokens (token.go) let TLS clients of helios serve act as a policy
// user within a scope; the store keeps their SHA-256, never the secret,
// under the 'a' 't' key, and each change is a "token" record carrying the
// digest of the new set, which VerifyStore checks. audit/serveauth is the
// policy and the tokens as helios serve applies them.
//
// A local-path store is single-user: whoever can open its files can do
// anything, policy included. Enforcement needs helios serve to own the
// files.
package audit
