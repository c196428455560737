package router

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
)

// index holds the routes in buckets, so that a dispatch only tries the
// routes that can match its event: by event kind (or any kind), then, for
// messages, by command name, then by conversation type (or any), and
// within those by a condition on the message that the route needs (see
// key): a prefix of the text, a keyword in it, a mention. Every bucket is
// sorted in precedence order (priority, then registration), and a
// dispatch merges the buckets its event selects.
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
	conv map[im.ConversationType]*leaf
	all  leaf // routes that do not constrain the conversation type
}

// leaf splits the routes of one kind, command and conversation type by
// the key they need. A route with several keys (Keyword with several
// words, Or of prefixes) is in the bucket of each, and an event that
// meets several of them selects it more than once: iter.next drops the
// repeats.
type leaf struct {
	plain []*route // routes with no key: tried for every event
	keyed *keyed   // nil until a route with a key comes: most leaves have none
}

// keyed holds a leaf's routes by key.
type keyed struct {
	prefix      node // keyPrefix, by the trimmed text's bytes
	rawPrefix   node // keyRawPrefix, by the text's bytes
	word        node // keyWord, by the text's ASCII-lowered bytes
	mentionsBot []*route
	mentionsAll []*route
}

// node is a byte trie: the routes whose key is the path to the node.
type node struct {
	labels []byte
	kids   []*node
	routes []*route
}

func (n *node) child(b byte) *node {
	if i := bytes.IndexByte(n.labels, b); i >= 0 {
		return n.kids[i]
	}
	return nil
}

func (n *node) add(s string, rt *route) {
	for i := 0; i < len(s); i++ {
		k := n.child(s[i])
		if k == nil {
			k = &node{}
			n.labels = append(n.labels, s[i])
			n.kids = append(n.kids, k)
		}
		n = k
	}
	n.routes = insert(n.routes, rt)
}

// walk selects the routes of the nodes on text's path from n: those
// whose key is a prefix of text. With fold, text's ASCII letters are
// taken in lower case (a word key is lower-case ASCII).
func (n *node) walk(text string, fold bool, it *iter) {
	for i := 0; i < len(text) && len(n.kids) > 0; i++ {
		b := text[i]
		if fold && 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if n = n.child(b); n == nil {
			return
		}
		it.add(n.routes)
	}
}

// each calls f with every key below n and its routes, in byte order.
func (n *node) each(path string, f func(key string, routes []*route)) {
	if len(n.routes) > 0 {
		f(path, n.routes)
	}
	order := make([]int, len(n.kids))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return int(n.labels[a]) - int(n.labels[b]) })
	for _, i := range order {
		n.kids[i].each(path+string(n.labels[i:i+1]), f)
	}
}

func (x *index) init() { x.kinds = make(map[bot.EventKind]*buckets) }

func (x *index) add(rt *route) {
	sets := []*buckets{&x.any}
	if rt.hint.kinds != nil {
		// A route that can match no kind (an expression contradicting
		// its Kind) goes in no bucket: no event could take it.
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
		cb.all.add(rt)
		return
	}
	if cb.conv == nil {
		cb.conv = make(map[im.ConversationType]*leaf)
	}
	for _, ct := range rt.hint.convs {
		l := cb.conv[ct]
		if l == nil {
			l = &leaf{}
			cb.conv[ct] = l
		}
		l.add(rt)
	}
}

func (l *leaf) add(rt *route) {
	if rt.hint.keys == nil {
		l.plain = insert(l.plain, rt)
		return
	}
	if l.keyed == nil {
		l.keyed = &keyed{}
	}
	l.keyed.add(rt)
}

func (l *keyed) add(rt *route) {
	for _, k := range rt.hint.keys {
		switch k.op {
		case keyPrefix:
			l.prefix.add(k.s, rt)
		case keyRawPrefix:
			l.rawPrefix.add(k.s, rt)
		case keyWord:
			l.word.add(k.s, rt)
		case keyMentionsBot:
			l.mentionsBot = insert(l.mentionsBot, rt)
		case keyMentionsAll:
			l.mentionsAll = insert(l.mentionsAll, rt)
		}
	}
}

// insert adds rt to a bucket in precedence order, once: Keyword("a",
// "a") files its route under "a" once.
func insert(list []*route, rt *route) []*route {
	i, found := slices.BinarySearchFunc(list, rt, func(a, b *route) int {
		switch {
		case a == b:
			return 0
		case before(a, b):
			return -1
		}
		return 1
	})
	if found {
		return list
	}
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
	// Routes that take all have no key: they are in the plain buckets.
	var takers []*route
	add := func(list []*route) {
		for _, old := range list {
			if old.priority == rt.priority && old.takesAll() {
				takers = append(takers, old)
			}
		}
	}
	add(cb.all.plain)
	for _, l := range cb.conv {
		add(l.plain)
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
	it.lists = it.lists[:0]
	ct := s.convType()
	if b := x.kinds[s.c.Event.Kind]; b != nil {
		if len(b.cmds) > 0 {
			if name := s.command(); name != "" {
				if cb := b.cmds[name]; cb != nil {
					cb.candidates(s, ct, it)
				}
			}
		}
		b.convBuckets.candidates(s, ct, it)
	}
	x.any.candidates(s, ct, it)
}

func (cb *convBuckets) candidates(s *state, ct im.ConversationType, it *iter) {
	if l := cb.conv[ct]; l != nil {
		l.candidates(s, it)
	}
	cb.all.candidates(s, it)
}

// candidates selects the plain routes and those whose key s's event
// meets. It is small enough to inline: most leaves have no keys.
func (l *leaf) candidates(s *state, it *iter) {
	it.add(l.plain)
	if l.keyed != nil {
		l.keyed.candidates(s, it)
	}
}

// candidates selects the routes whose key s's event meets. The keys only
// concern messages.
func (l *keyed) candidates(s *state, it *iter) {
	if s.c.Event.Message == nil {
		return
	}
	if len(l.prefix.kids) > 0 {
		l.prefix.walk(trimLeftSpace(s.text()), false, it)
	}
	if len(l.rawPrefix.kids) > 0 {
		l.rawPrefix.walk(s.text(), false, it)
	}
	if len(l.word.kids) > 0 {
		// Every place a keyword can start: a naive multi-pattern search,
		// which gives up on most bytes at the first step.
		text := s.text()
		for i := range len(text) {
			l.word.walk(text[i:], true, it)
		}
	}
	if len(l.mentionsBot) > 0 || len(l.mentionsAll) > 0 {
		toBot, toAll := s.mentions()
		if toBot {
			it.add(l.mentionsBot)
		}
		if toAll {
			it.add(l.mentionsAll)
		}
	}
}

// iter merges sorted buckets in precedence order. Its lists keep their
// capacity in the state pool, so that selecting buckets allocates
// nothing once a dispatch has selected as many.
type iter struct {
	lists [][]*route
}

// add selects a bucket, once: a keyword the text holds twice selects its
// bucket once.
func (it *iter) add(l []*route) {
	if len(l) == 0 {
		return
	}
	for _, o := range it.lists {
		if len(o) == len(l) && &o[0] == &l[0] {
			return
		}
	}
	it.lists = append(it.lists, l)
}

// next returns the first route of the selected buckets in precedence
// order, and takes it off every bucket it heads: a route filed under
// several keys that the event meets is tried once.
func (it *iter) next() *route {
	var best *route
	for _, l := range it.lists {
		if len(l) > 0 && (best == nil || before(l[0], best)) {
			best = l[0]
		}
	}
	if best == nil {
		return nil
	}
	for i, l := range it.lists {
		if len(l) > 0 && l[0] == best {
			it.lists[i] = l[1:]
		}
	}
	return best
}

// String prints the index, one bucket a line: the kind ("any kind" for
// routes that take every kind), the command, the conversation type, the
// key (prefix "s", regex prefix "s", keyword "s", mentions(bot),
// mentions(all)), and the bucket's routes in precedence order, as #id
// with (p=N) for a priority other than 0. Kinds come in their numeric
// order, commands by name, conversation types by number, each before its
// "any" bucket; within those, the keyed buckets in that order of keys
// (the same key by its bytes) before the plain one.
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
	leafs := func(prefix string, l *leaf) {
		if k := l.keyed; k != nil {
			trie := func(name string, n *node) {
				n.each("", func(key string, routes []*route) { line(prefix+" "+name+" "+strconv.Quote(key), routes) })
			}
			trie("prefix", &k.prefix)
			trie("regex prefix", &k.rawPrefix)
			trie("keyword", &k.word)
			line(prefix+" mentions(bot)", k.mentionsBot)
			line(prefix+" mentions(all)", k.mentionsAll)
		}
		line(prefix, l.plain)
	}
	convs := func(prefix string, cb *convBuckets) {
		for _, ct := range slices.Sorted(maps.Keys(cb.conv)) {
			leafs(prefix+" "+ct.String(), cb.conv[ct])
		}
		leafs(prefix, &cb.all)
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
