package helper

import (
	"fmt"

	"github.com/helios-vcs/helios/helper/gitobj"
)

// ObjectChecker checks the objects of a push as they arrive, the way git
// fsck --strict would: each id is recomputed with the collision-detecting
// hash, commits, trees and tags get their strict checks, and a blob that a
// tree names .gitmodules or .gitattributes gets the checks of that file. A
// blob can arrive before the tree that names it so (it was reachable under
// another name first); Check then returns its id for a second look, which
// the caller gives with CheckBlob once it has the content again. The zero
// ObjectChecker is ready to use; it is not safe for concurrent use.
type ObjectChecker struct {
	gitmodules map[gitobj.OID]bool // named .gitmodules by a tree; true once checked
	attributes map[gitobj.OID]bool
	blobsRead  map[gitobj.OID]bool // blobs passed before any tree named them
}

// Check verifies obj and returns the ids of blobs already passed that obj
// (a tree) names .gitmodules or .gitattributes: they must be given to
// CheckBlob before the push may land.
func (c *ObjectChecker) Check(obj gitobj.Object) (recheck []gitobj.OID, err error) {
	if c.gitmodules == nil {
		c.gitmodules = make(map[gitobj.OID]bool)
		c.attributes = make(map[gitobj.OID]bool)
		c.blobsRead = make(map[gitobj.OID]bool)
	}
	if err := gitobj.Verify(gitobj.SHA1, obj); err != nil {
		return nil, err
	}
	found, err := gitobj.Check(gitobj.SHA1, obj)
	if err != nil {
		return nil, err
	}
	for _, set := range []struct {
		ids  []gitobj.OID
		seen map[gitobj.OID]bool
	}{{found.Gitmodules, c.gitmodules}, {found.Gitattributes, c.attributes}} {
		for _, id := range set.ids {
			if _, ok := set.seen[id]; !ok {
				set.seen[id] = false
				if c.blobsRead[id] {
					recheck = append(recheck, id)
				}
			}
		}
	}
	if obj.Type == gitobj.Blob {
		if err := c.CheckBlob(obj); err != nil {
			return nil, err
		}
	}
	return recheck, nil
}

// CheckBlob applies the .gitmodules and .gitattributes checks to obj if a
// tree named it so, and otherwise remembers it as passed.
func (c *ObjectChecker) CheckBlob(obj gitobj.Object) error {
	if c.gitmodules == nil {
		return fmt.Errorf("helper: CheckBlob before Check")
	}
	if done, ok := c.gitmodules[obj.OID]; ok && !done {
		if obj.Type != gitobj.Blob {
			return &gitobj.FsckError{OID: obj.OID, ID: "gitmodulesBlob", Detail: "non-blob found at .gitmodules"}
		}
		if err := gitobj.CheckGitmodules(obj.OID, obj.Data); err != nil {
			return err
		}
		c.gitmodules[obj.OID] = true
	}
	if done, ok := c.attributes[obj.OID]; ok && !done {
		if err := gitobj.CheckGitattributes(obj.OID, obj.Data); err != nil {
			return err
		}
		c.attributes[obj.OID] = true
	}
	if _, named := c.gitmodules[obj.OID]; !named {
		if _, named := c.attributes[obj.OID]; !named {
			c.blobsRead[obj.OID] = true
		}
	}
	return nil
}
