// Command git-remote-helios is the git remote helper for Helios stores:
// git runs it for URLs of the form helios::/path/to/store (or
// helios:///path/to/store) as
//
//	git-remote-helios <remote> <url>
//
// with $GIT_DIR set, and speaks gitremote-helpers(7) with it on stdin and
// stdout (see package helper). The store directory holds the RocksDB
// database in "db" (made by `helios init --store DIR`).
//
// The helper goes through the store's resident server (helios serve),
// starting one when none runs (cmd/internal/remotehelper): the server holds the database
// open, checks pushed objects itself and applies the store's policy to the
// peer. A push of 256 objects or more hands the server a pipe that
// `git cat-file --batch` writes them into (objstore/server/fdpass.go): the
// objects skip the helper, which took a third of a big push's processor
// time to read and write them again. With HELIOS_NO_SERVER=1, or when no helios executable is at hand to
// start a server, it opens the store itself: clones, fetches and ls-remote
// read-only, so they run beside a push; a push for writing, waiting for
// another writer's lock and saying so on stderr.
//
// `make build` makes the thin build (CGO_ENABLED=0, build tag thin): it
// does not link RocksDB, so it starts in a third of the time, and it hands
// a store it cannot reach through a server to `helios git-remote-helios`,
// the same helper inside the helios executable, which opens the store
// itself. The default build (go build, go test) opens the store itself.
package main
