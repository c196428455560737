package router

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/imbot-go/imbot/bot"
)

// Explanation says how a Router would dispatch an event: which routes the
// index selected, in the order they would be tried, whether each matches
// and why not, and which one would handle the event.
type Explanation struct {
	// Event summarizes the event: kind, conversation type, message type
	// and text.
	Event string
	// Total is the number of routes registered; Steps holds the ones the
	// index selected, the others cannot match.
	Total int
	Steps []Step
	// Handler is the number of the route that would handle the event (the
	// first that matches), or 0 when none matches.
	Handler int
	// NotFound reports that no route matches and a NotFound handler is
	// set.
	NotFound bool
}

// Step is one route an Explanation considered.
type Step struct {
	// Route is the route's number: its place in registration order, from
	// 1, as the index print shows it.
	Route int
	// Name is the route's Name option, or where it was registered
	// (file:line).
	Name string
	// Priority is the route's priority.
	Priority int
	// Matchers describes the route's matchers, its command first.
	Matchers string
	// Matched reports that the route matches the event.
	Matched bool
	// Rejected, when the route does not match, is the matcher that
	// rejected the event, and Reason why.
	Rejected string
	Reason   string
	// Usage is set when the route matched a command with bad arguments:
	// the usage handler would run instead of the route's handler.
	Usage *UsageError
	// Handles reports that this route would handle the event: it is the
	// first that matches. A later matching route runs only when the ones
	// before it return ErrContinue, which Explain cannot know: it runs no
	// handler.
	Handles bool
}

// Explain reports how r would dispatch c's event, without running any
// handler. Matchers do run, and c gets the route parameters of the route
// that would handle the event, as in a dispatch, and no other route's.
// It does not freeze the router.
func (r *Router) Explain(c *bot.Context) Explanation {
	t := r.t
	t.mu.Lock()
	defer t.mu.Unlock()
	s := getState(c, t)
	defer putState(s)
	ex := Explanation{Event: summarize(s), Total: len(t.routes)}
	t.idx.candidates(s, &s.it)
	for rt := s.it.next(); rt != nil; rt = s.it.next() {
		st := Step{Route: rt.id, Name: rt.name, Priority: rt.priority, Matchers: rt.desc}
		var saved map[string]string
		if rt.custom {
			saved = c.Params()
		}
		ok, failed, why, uerr := rt.match(s, true)
		if ok {
			st.Matched, st.Usage = true, uerr
		} else {
			st.Rejected, st.Reason = failed.String(), why
		}
		if ok && ex.Handler == 0 {
			ex.Handler, st.Handles = rt.id, true
			s.commit()
		} else {
			restoreParams(c, saved)
		}
		ex.Steps = append(ex.Steps, st)
	}
	ex.NotFound = ex.Handler == 0 && t.notFound != nil
	return ex
}

func summarize(s *state) string {
	ev := &s.c.Event
	var sb strings.Builder
	sb.WriteString(ev.Kind.String())
	if ct := s.convType(); ct != 0 {
		sb.WriteString(" in " + ct.String())
	}
	if m := ev.Message; m != nil {
		sb.WriteString(", " + m.Type.String() + " " + strconv.Quote(s.text()))
	}
	return sb.String()
}

// String renders the explanation for logs and tests:
//
//	event: message in Group, Text "/weather paris x"
//	routes: 2 of 7 considered
//	#3 weather (p=10): command(/weather <city> [days:int]): matched, bad arguments, the usage handler runs: days: "x" is not an int [handles]
//	#5 all: kind(message): matched
//	handled by #3
func (e Explanation) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "event: %s\n", e.Event)
	fmt.Fprintf(&sb, "routes: %d of %d considered\n", len(e.Steps), e.Total)
	for _, st := range e.Steps {
		sb.WriteString(st.String())
		sb.WriteString("\n")
	}
	switch {
	case e.Handler != 0:
		fmt.Fprintf(&sb, "handled by #%d\n", e.Handler)
	case e.NotFound:
		sb.WriteString("no route matches: the NotFound handler runs\n")
	default:
		sb.WriteString("no route matches: nothing runs\n")
	}
	return sb.String()
}

// String renders one step on one line.
func (st Step) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "#%d %s", st.Route, st.Name)
	if st.Priority != 0 {
		fmt.Fprintf(&sb, " (p=%d)", st.Priority)
	}
	fmt.Fprintf(&sb, ": %s: ", st.Matchers)
	switch {
	case !st.Matched:
		fmt.Fprintf(&sb, "rejected by %s: %s", st.Rejected, st.Reason)
	case st.Usage != nil:
		reason := st.Usage.Reason
		if st.Usage.Arg != "" {
			reason = st.Usage.Arg + ": " + reason
		}
		fmt.Fprintf(&sb, "matched, bad arguments, the usage handler runs: %s", reason)
	default:
		sb.WriteString("matched")
	}
	if st.Handles {
		sb.WriteString(" [handles]")
	}
	return sb.String()
}
