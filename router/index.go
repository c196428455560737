package router

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
)

// index holds the routes in buckets, so that a dispatch only tries the
// routes that can match its event: by event kind (or any kind), then, for
// messages, by command name, then by conversation type (or any). Every
// bucket is sorted in precedence order (priority, then registration), and
// a dispatch merges the few buckets its event selects.
//
// It is written under table.mu before serving and only read after.
type index struct {
	kinds map[bot.EventKind]*buckets
	any   buckets // routes that do not constrain the kind
}

type buckets struct {
	cmds map[string]*convBuckets // command routes by name
	convBuckets
}

// convBuckets splits routes by the conversation types they constrain.
type convBuckets struct {
	conv map[im.ConversationType][]*route
	all  []*route // routes that do not constrain the conversation type
}

func (x *index) init() { x.kinds = make(map[bot.EventKind]*buckets) }

func (x *index) add(rt *route) {
	sets := []*buckets{&x.any}
	if rt.hint.kinds != nil {
		sets = sets[:0]
		for _, k := range rt.hint.kinds {
			b := x.kinds[k]
			if b == nil {
				b = &buckets{}
				x.kinds[k] = b
			}
			sets = append(sets, b)
		}
	}
	for _, b := range sets {
		cb := &b.convBuckets
		if rt.cmd != nil {
			if b.cmds == nil {
				b.cmds = make(map[string]*convBuckets)
			}
			if cb = b.cmds[rt.cmd.name]; cb == nil {
				cb = &convBuckets{}
				b.cmds[rt.cmd.name] = cb
			}
		}
		cb.add(rt)
	}
}

func (cb *convBuckets) add(rt *route) {
	if rt.hint.convs == nil {
		cb.all = insert(cb.all, rt)
		return
	}
	if cb.conv == nil {
		cb.conv = make(map[im.ConversationType][]*route)
	}
	for _, ct := range rt.hint.convs {
		cb.conv[ct] = insert(cb.conv[ct], rt)
	}
}

// insert adds rt to a bucket in precedence order.
func insert(list []*route, rt *route) []*route {
	i, _ := slices.BinarySearchFunc(list, rt, func(a, b *route) int {
		if before(a, b) {
			return -1
		}
		return 1
	})
	return slices.Insert(list, i, rt)
}

// conflict returns the routes that leave rt's command route no event:
// routes registered before it, at its priority, for its command, that no
// other matcher narrows (takesAll) and that together take every
// conversation type rt allows; for each type, the first of them that takes
// it. It returns nil when rt can fire.
func (x *index) conflict(rt *route) []*route {
	b := x.kinds[bot.EventMessage]
	if b == nil {
		return nil
	}
	cb := b.cmds[rt.cmd.name]
	if cb == nil {
		return nil
	}
	var takers []*route
	add := func(list []*route) {
		for _, old := range list {
			if old.priority == rt.priority && old.takesAll() {
				takers = append(takers, old)
			}
		}
	}
	add(cb.all)
	for _, list := range cb.conv {
		add(list)
	}
	byID := func(a, b *route) int { return a.id - b.id }
	slices.SortFunc(takers, byID)
	takers = slices.Compact(takers) // a route is in the bucket of each of its types
	// A route without conversation types fires in every type, and for
	// events with none: only a taker without types leaves it nothing.
	anyType := func(old *route) bool { return old.hint.convs == nil }
	if rt.hint.convs == nil {
		if i := slices.IndexFunc(takers, anyType); i >= 0 {
			return takers[i : i+1]
		}
		return nil
	}
	var found []*route
	for _, ct := range rt.hint.convs {
		i := slices.IndexFunc(takers, func(old *route) bool { return anyType(old) || slices.Contains(old.hint.convs, ct) })
		if i < 0 {
			return nil
		}
		found = append(found, takers[i])
	}
	slices.SortFunc(found, byID)
	return slices.Compact(found)
}

// takesAll reports whether the route takes every message naming its
// command in its conversation types: its matchers other than the command
// only restate kinds and conversation types, which its hint holds. Any
// other matcher (a mention, a regex, Or, Not, an expression, a custom
// Matcher, …) may reject such a message and let a later route have it.
func (rt *route) takesAll() bool {
	for _, m := range rt.ms {
		switch m.(type) {
		case *kindMatcher, *convMatcher:
		default:
			return false
		}
	}
	return true
}

// candidates loads it with the buckets s's event selects.
func (x *index) candidates(s *state, it *iter) {
	it.n = 0
	ct := s.convType()
	if b := x.kinds[s.c.Event.Kind]; b != nil {
		if len(b.cmds) > 0 {
			if name := s.command(); name != "" {
				if cb := b.cmds[name]; cb != nil {
					it.add(cb.conv[ct])
					it.add(cb.all)
				}
			}
		}
		it.add(b.conv[ct])
		it.add(b.all)
	}
	it.add(x.any.conv[ct])
	it.add(x.any.all)
}

// iter merges up to six sorted buckets in precedence order.
type iter struct {
	lists [6][]*route
	n     int
}

func (it *iter) add(l []*route) {
	if len(l) > 0 {
		it.lists[it.n] = l
		it.n++
	}
}

func (it *iter) next() *route {
	best := -1
	for i := 0; i < it.n; i++ {
		if len(it.lists[i]) > 0 && (best < 0 || before(it.lists[i][0], it.lists[best][0])) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	rt := it.lists[best][0]
	it.lists[best] = it.lists[best][1:]
	return rt
}

// String prints the index, one bucket a line: the kind ("any kind" for
// routes that take every kind), the command, the conversation type, and
// the bucket's routes in precedence order, as #id with (p=N) for a
// priority other than 0. Kinds come in their numeric order, commands by
// name, conversation types by number, each before its "any" bucket.
func (x *index) String() string {
	var sb strings.Builder
	line := func(prefix string, list []*route) {
		if len(list) == 0 {
			return
		}
		sb.WriteString(prefix)
		sb.WriteString(":")
		for _, rt := range list {
			fmt.Fprintf(&sb, " #%d", rt.id)
			if rt.priority != 0 {
				fmt.Fprintf(&sb, "(p=%d)", rt.priority)
			}
		}
		sb.WriteString("\n")
	}
	convs := func(prefix string, cb *convBuckets) {
		for _, ct := range slices.Sorted(maps.Keys(cb.conv)) {
			line(prefix+" "+ct.String(), cb.conv[ct])
		}
		line(prefix, cb.all)
	}
	set := func(prefix string, b *buckets) {
		for _, name := range slices.Sorted(maps.Keys(b.cmds)) {
			convs(prefix+" "+name, b.cmds[name])
		}
		convs(prefix, &b.convBuckets)
	}
	for _, k := range slices.Sorted(maps.Keys(x.kinds)) {
		set(k.String(), x.kinds[k])
	}
	set("any kind", &x.any)
	return sb.String()
}
