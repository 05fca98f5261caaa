// Package server is the resident store process and its client: one process
// per store holds the database open ("helios serve") and short-lived
// commands talk to it over a Unix socket in the store directory, so that a
// command costs a round trip instead of a database open (20-30 ms and
// ~50 KB written by RocksDB each time; see DESIGN.md, "A resident store
// process").
//
// # Files in the store directory
//
//	serve.sock   the Unix socket (mode 0600)
//	serve.lock   flock'ed (exclusive) by the running server for its lifetime
//	serve.start  flock'ed by a client while it starts a server
//	serve.log    stderr of servers started on demand
//	serve.watch  the file watcher's flush markers (see watch.go)
//
// A server takes serve.lock (waiting for a previous one that is shutting
// down), removes any serve.sock left behind, opens the store, listens; at
// the end it unlinks the socket, closes the store, and only then lets go of
// the lock. The kernel drops the lock of a killed server, so a socket
// without a lock holder is stale and the next server replaces it; a client
// that finds it sees ECONNREFUSED and starts a server.
//
// Start on demand (Connect): dial; if nothing answers, take serve.start,
// dial again (a racing client may have started one meanwhile), otherwise
// spawn "helios serve" in its own session and dial until it answers (the
// server listens only once the store is open). Ten racing commands thus
// start one server. A path too long for sockaddr_un (107 bytes) is reached
// as /proc/self/fd/N/serve.sock through a descriptor of the directory.
//
// # Framing
//
// Both directions carry frames:
//
//	uint32 little-endian n | kind (1 byte) | payload (n-1 bytes, at most 16 MiB)
//
//	'h' hello    client → server, first frame: protocol version (uvarint),
//	             build identity (string; empty accepts any server), and
//	             optionally a bearer token (string; TLS clients)
//	'q' query    client → server: operation (1 byte), then its arguments
//	'r' result   server → client: the operation's results
//	'e' error    server → client: code (1 byte), message (string), and for
//	             code 2 (ref conflict) the ref name and the wanted and
//	             found IDs
//	'd' data     a piece (≤ 64 KiB) of a streamed value, before its 'r'
//	'z' end      end of a client → server stream (reserved for uploads)
//	'p' pipe     client → server, over a Unix socket, right after a piped
//	             push's query: the next byte carries (SCM_RIGHTS) a pipe
//	             that git cat-file writes the objects into
//
// Payloads are unsigned or zig-zag varints, strings and byte strings as a
// uvarint length and the bytes, IDs as 32 raw bytes, flags as one byte,
// times as nanoseconds since 1970 and the zone offset in seconds. Entries
// are name, mode, ID; states are root, parents, author, committer, message
// as objstore encodes them in memory. A decoder bounds every length by the
// bytes left in the payload and rejects trailing bytes.
//
// The handshake answers hello with the server's build and pid, or with
// ErrVersion when the builds differ: a server asked by a client of its own
// user (not a TLS client, not another user of a shared socket) then shuts
// down and the
// client waits for serve.lock and starts a server of its own build (an
// older server is replaced cleanly; builds that alternate replace each
// other in turn). The build identity is the executable's device, inode,
// size and mtime (BuildID): a stat, not a hash of 10 MB.
//
// # Requests
//
// A connection carries one request at a time, and requests on different
// connections run concurrently: each connection is served by its own
// goroutine, reads go to the store in parallel, writes are serialized (per
// ref, with group commit) by the store. A write is answered only after the
// store's commit has returned, that is after RocksDB has put it in its WAL,
// and for a durable request (or a server run with --durable) after the WAL
// is fsynced: a server killed at any moment loses no answered commit.
//
// Operations (the op byte; arguments → results):
//
//	1  status            → build, pid, start time, idle timeout, open and
//	                       total connections, requests, the caller's uid/pid,
//	                       pushes that came through a pipe
//	2  stop              → (the server shuts down after answering)
//	3  snapshot          dir, ref, message, author, durable → SnapshotResult
//	4  checkout          dir, state, force → MaterializeStats
//	5  worktree-state    dir → state
//	6  resolve-state     rev → state
//	7  resolve           ref → state, direct ref name
//	8  state             id → State
//	9  log               start, n → n × (id, State)
//	10 diff              a, b → Changes (path, op, from entry, to entry)
//	11 stat              state, path → Entry
//	12 list-tree         state, path → Entries
//	13 read-file         state, path → 'd' frames of the content, then Entry
//	14 refs              prefix → Refs (name, id, symbolic target)
//	15 update-refs       durable, n × (name, old, new, ignore-old) → (CAS,
//	                     all or none; a lost race is error code 2)
//	16 set-symbolic-ref  name, target →
//	17 fsck              full → FsckReport
//	18 gc                compact → GCReport
//	19 stats             → n × (name, value)
//	20 git-list          for-push → n × (name, git id, symref, peeled)
//	21 git-fetch         wants, haves → 'd' frames of object records, then 'r'
//	22 git-push          n × (name, old, new, force, lease), atomic, dry-run,
//	                     piped; a piped push (a client on this machine, over
//	                     a Unix socket) sends 'p' and its pipe next. Then the
//	                     client streams the ids it offers ('d'…'z', or 'e'
//	                     when its listing fails) as git lists them, and the
//	                     server looks each up as it comes. Piped: the server
//	                     sends each id it lacks at once ('d'…, always ended
//	                     by 'z'), the client's git cat-file writes the object
//	                     into the pipe, in the order asked (fdpass.go).
//	                     Otherwise the server may answer with the ids it
//	                     lacks ('d'…'z') once the list is done, and the
//	                     client streams those objects ('d'…'z', or 'e' to
//	                     give up). → n × push result
//	23 audit-checkpoint  → signed checkpoint, verifier key
//	24 audit-prove       t, n → consistency proof (tlog hashes)
//	25 walk              root tree → 'd' frames of (path, entry), then count
//	26 make-state        dropped handles, parent, n × (path, content),
//	                     message, author → state, root tree
//	27 prepare-state     dropped handles, parent, n × (path, content),
//	                     commit-if-new [, message, author] → handle, root
//	                     tree (held by the connection), state (written at
//	                     once when commit-if-new and the root is new here)
//	28 commit-state      dropped handles, handle, message, author → state
//	29 import-state      n × (path, mode, content), message, author → state
//	30 git-clone-pack    wants, link → has-pack; with one, 'd' frames of:
//	                     name, tips, pack size, index size, a flag and (flag
//	                     1) the pack and the index, then the wants' object
//	                     records (helper/clonepack). With link (a Unix-socket
//	                     client that can read the store directory) the flag
//	                     is 0 and the client links the files from the cache.
//	31 audit-witnessed   → witness policy text, n × cosigned checkpoint
//	32 audit-cosign      cosigned checkpoint → n × witness name (stored
//	                     if it is this log's and cosigned by a listed witness)
//	0x80 admin           name, request bytes → answer bytes (Options.Admin:
//	                     token changes; numbered apart so that operations
//	                     can be appended above without renumbering)
//
// The state operations (states.go) are what helios mcts run needs to
// search through the server: a child state made from its parent and the
// files an edit changed, computed first and written only if its tree is
// new, and a whole listing of a tree in one request.
//
// The git operations (git.go) are git-remote-helios's store side: the
// helper reaches a served store through them and costs a connection instead
// of a database open. The server checks every pushed object as git fsck
// --strict does and refuses objects it did not ask for, whether they come
// in the connection's frames or, from a client on this machine, through a
// pipe its git cat-file writes into (fdpass.go); a push that breaks the
// protocol closes the connection. Each ref update is put to the
// Authorizer as "write", "force" or "delete" on the ref, judged on the
// states it moves between once the pushed objects are stored (as
// update-refs is), a listed ref as "read", and a fetch serves only wants
// that are values of refs the peer may read.
//
// Directories are absolute (the client resolves them against its own
// working directory).
//
// # Streams and back-pressure
//
// A large value travels as 'd' frames of at most 64 KiB followed by the
// closing 'r'. The sender writes into the socket and blocks when the
// kernel's socket buffer is full, so a slow reader slows the writer down
// and neither side buffers more than one frame: the back-pressure is the
// socket's. Because a connection carries one request at a time, no
// per-stream window is needed; parallel transfers use parallel
// connections. Uploads (pushes) will use the same frames in the other
// direction, ended by 'z'.
//
// # Errors
//
// Errors keep their text and, by code, the sentinel they wrapped
// (objstore.ErrNotFound, ErrRefConflict with its *RefConflictError,
// ErrLocalChanges, ErrBadPath, ..., ErrDenied), so errors.Is and errors.As
// work the same through a server as on a store opened in process (Local).
//
// # The file watcher
//
// A snapshot request of a directory starts (or keeps) an inotify watch of
// that worktree, and the next snapshots of it examine only the paths that
// changed since its last sync (objstore.SnapshotOptions.Paths), falling
// back to the full scan whenever the watcher cannot vouch for its set.
// watch.go has the design and the race-freedom argument; WatchOptions the
// limits.
//
// # Identity and policy
//
// Every request is put to an Authorizer with the peer, the operation's
// name and its target (a ref or a directory). The peer is who the kernel
// says on the Unix socket (SO_PEERCRED, recorded per connection), and on
// the TLS listener (tls.go) the user of a verified client certificate or
// of a bearer token sent in the hello frame (checked by the
// Authenticator); a TLS client with neither is refused after its hello.
//
// Ref moves are judged here, on the store's states: every update of an
// update-refs request is put to the Authorizer as write (a creation or a
// fast-forward: the old state is an ancestor of the new one), force
// (anything else, including a move whose ancestry is not proven within
// 100,000 states) or delete, after the request itself. An update that
// ignores the old value becomes a compare-and-swap on the value it was
// judged against. Listings drop the refs the peer may not read. An
// operation that moves refs (a future push) must go through
// authorizeRefUpdates the same way. Writes are committed under the peer's
// name (Peer.Name), which is what the audit journal records. Refusals the
// server acts on are reported to Options.Denied (the audit log records
// them).
//
// AllowAll is the package default; helios serve installs the store's
// policy (audit/serveauth). Requests addressed by state ID (state, log,
// diff, stat, list-tree, read-file) carry no ref: an Authorizer can only
// decide them by who asks, not by which refs reach the state.
//
// # Failure limits
//
// Failures a peer causes (a failed TLS handshake, a refused
// authentication, a refused request; at most one per request) are rate
// limited by a token bucket per peer: its remote IP on the TLS listener,
// its uid on the socket, never the server's own uid (Options.FailureLimit,
// ratelimit.go; default 10 in a row, one forgiven every 6 s). Over the
// limit, the peer's new connections are closed on accept, before any TLS
// work, and the failing connection after its answer; both are logged.
//
// # TLS credentials
//
// The TLS listener's certificate, key, client CA and client CRL are
// TLSCredentials (tlsreload.go): read for every handshake from the set
// last loaded, reloaded at once by Reload (helios serve: SIGHUP, or a file
// change) without touching established connections; a set that fails to
// load leaves the old in force. A client certificate the CRL lists fails
// the handshake. With a client CA no session tickets are issued: Go does
// not re-verify certificates on resumption (golang/go#77217, #77377), so a
// ticket would outlive a revocation or a CA change.
//
// # Lifetime
//
// The server exits after IdleTimeout without an open connection, on a stop
// request, or when a client of another build arrives; requests in flight
// finish first. helios serve also stops within 2 s when its store
// directory is removed or replaced; the socket and watch markers it removes
// on the way out are only its own (Listener.Close, removeIfSame), never a
// later server's at the same path.
//
// After a push, and at start, the server compacts the database once it has
// had no request for SettleQuiet (5 s) and no clone pack is being built,
// if the database says work is pending (objstore.LazyCompactor): the table
// files a push ingests stay in RocksDB's level 0 until then, so a clone
// right after the push does not share the machine with the compaction
// (settle.go).
package server
