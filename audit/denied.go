package audit

import (
	"errors"
	"strings"
	"time"
)

// Denial is the record of a request the policy refused (event "denied"):
// actor is who asked, op what (a ref operation such as force, or a request
// such as gc), target the ref or other target ("" for none), via how the
// actor was identified (the local OS user, unix, cert, token), reason why
// it was refused (a *DeniedError's rule when err is one). The ref goes in
// the attributes, never in Refs: nothing moved, so replaying the log's ref
// changes (storeaudit.VerifyStore) must not see it.
func Denial(now time.Time, actor, via, op, target string, err error) Record {
	attrs := map[string]string{"op": op}
	reason := err.Error()
	var de *DeniedError
	if errors.As(err, &de) {
		reason = de.Reason
	}
	attrs["reason"] = reason
	switch {
	case target == "":
	case target == "HEAD" || strings.HasPrefix(target, "refs/"):
		attrs["ref"] = target
	default:
		attrs["target"] = target
	}
	if via != "" {
		attrs["via"] = via
	}
	return Record{Time: now, Actor: actor, Event: EventDenied, Attrs: attrs}
}
