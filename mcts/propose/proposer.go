package propose

import (
	"context"
	"math/rand/v2"
)

// Proposer suggests children of a node. Propose is called with Round 0 the
// first time a node is expanded and with Round 1, 2, ... when the search
// has used up what earlier rounds returned; an empty answer means the
// proposer has nothing more for this node. Candidates come best first.
// A Proposer must be safe for concurrent use: workers expand different
// nodes at once. Given the same Request (Rand included) a deterministic
// proposer returns the same candidates, which is what makes a search
// seed-deterministic.
type Proposer interface {
	Propose(ctx context.Context, req *Request) ([]Candidate, error)
}

// Closer is a Proposer holding resources (a child process) that Close frees.
type Closer interface {
	Close() error
}

// Request describes the node to expand.
type Request struct {
	// Node is the state's ID in text form, for logs and external proposers.
	Node string
	// Round counts the calls for this node, from 0.
	Round int
	// Paths are the files the proposer may edit, in order.
	Paths []string
	// All lists every file of the state (tests too), for resolving output.
	All []string
	// Read returns the content of a file of the node's state.
	Read func(path string) ([]byte, error)
	// Output is the tail of the node's test output; Failing the names of the
	// tests that failed there. A refine step is this: a child's proposals
	// come from the child's own failures.
	Output  string
	Failing []string
	// Score is the node's reward (0..1).
	Score float64
	// History lists the edits from the search's root to this node, oldest
	// first.
	History []Step
	// Rand is seeded from the search seed and the node; proposers draw all
	// their randomness from it.
	Rand *rand.Rand
}

// Step is one edge on the path to a node.
type Step struct {
	Edits []Edit  `json:"edits"`
	Score float64 `json:"score"`
}
