package mcts

import (
	"math"
	"sync"

	"github.com/helios-vcs/helios/mcts/eval"
	"github.com/helios-vcs/helios/mcts/propose"
	"github.com/helios-vcs/helios/objstore"
)

// Node is a state in the search tree, keyed by its root tree: two edits
// that give the same tree give one node. Fields are guarded by the
// search's lock, except queue and round, which the node's own lock guards
// (a worker holds it while it asks the proposer).
type Node struct {
	State, Tree objstore.ID
	// Parent is the node this one was first made from (nil for the root);
	// Edits made it from Parent, changing Files.
	Parent *Node
	Edits  []propose.Edit
	Note   string
	Prior  float64
	Depth  int
	// Order is the creation sequence number (the root is 0).
	Order    int
	Children []*Node

	Visits    int
	Virtual   int     // workers currently below this node (virtual loss)
	Value     float64 // best reward at or below this node
	Reward    float64 // this node's own reward
	Evaluated bool
	Result    *eval.Result

	files     map[string][]byte
	pending   int  // expansions in flight
	exhausted bool // the proposer has nothing more
	dead      bool // exhausted and every child dead

	mu    sync.Mutex
	queue []propose.Candidate
	round int
}

// live returns the children still worth descending into.
func (n *Node) liveChildren() int {
	k := 0
	for _, c := range n.Children {
		if !c.dead {
			k++
		}
	}
	return k
}

// Selection decides how a search descends. The score of child c of p,
// with N = p.Visits + p.Virtual and n = c.Visits + c.Virtual:
//
//	Q    = c.Value × c.Visits / n          (virtual visits count as reward 0)
//	UCT  = Q + C × sqrt(ln(N+1) / n)
//	PUCT = Q + C × P × sqrt(N) / (1 + n)   (P: c.Prior over the siblings' sum,
//	                                         uniform when no child has one)
//
// Progressive widening lets a node have at most ceil(K × (Visits+1)^Alpha)
// live or pending children, so a node is expanded again only as its visits
// grow; otherwise the best-scoring child is taken, the first on a tie.
type Selection struct {
	PUCT       bool
	C          float64
	WidenK     float64
	WidenAlpha float64
	MaxDepth   int
}

// Score returns the selection score of child c under parent p; prior is
// c's normalized prior (PUCT only).
func (s Selection) Score(p, c *Node, prior float64) float64 {
	n := float64(c.Visits + c.Virtual)
	if n == 0 {
		return math.Inf(1)
	}
	q := c.Value * float64(c.Visits) / n
	N := float64(p.Visits + p.Virtual)
	if s.PUCT {
		return q + s.C*prior*math.Sqrt(N)/(1+n)
	}
	return q + s.C*math.Sqrt(math.Log(N+1)/n)
}

// WidthLimit is how many live or pending children a node with v visits
// may have.
func (s Selection) WidthLimit(v int) int {
	return int(math.Ceil(s.WidenK * math.Pow(float64(v+1), s.WidenAlpha)))
}

// canWiden reports whether n should get a new child now.
func (s Selection) canWiden(n *Node) bool {
	if !n.Evaluated || n.exhausted || (s.MaxDepth > 0 && n.Depth >= s.MaxDepth) || n.Reward >= 1 {
		return false
	}
	return n.liveChildren()+n.pending < s.WidthLimit(n.Visits)
}

// best returns n's best live child, or nil.
func (s Selection) best(n *Node) *Node {
	sum := 0.0
	for _, c := range n.Children {
		if !c.dead {
			sum += c.Prior
		}
	}
	var best *Node
	bestScore := math.Inf(-1)
	live := n.liveChildren()
	for _, c := range n.Children {
		if c.dead {
			continue
		}
		prior := 1 / float64(live)
		if sum > 0 {
			prior = c.Prior / sum
		}
		if sc := s.Score(n, c, prior); sc > bestScore {
			best, bestScore = c, sc
		}
	}
	return best
}
