// Package router dispatches a bot's events to handlers by what they are:
// event kind, message type, mention, conversation type, command, regular
// expression, keyword, prefix, or an expr-lang expression. A [Router] is a
// [bot.Handler], as chi's Mux is an http.Handler:
//
//	r := router.New()
//	r.Use(logging)
//	r.OnCommand("/weather <city> [days:int]", func(c *bot.Context) error {
//		days, _ := router.ParamInt(c, "days")
//		_, err := c.Reply(forecast(c.Param("city"), days))
//		return err
//	})
//	r.OnRegex(`^(?i)hello (?P<name>\w+)`, greet)
//	if err := r.OnExpr(`IsGroup && Mentioned && Ext["lang"] == "fr"`, bonjour); err != nil {
//		return err // a bad expression, with its line:column
//	}
//	b.Handle(r)
//
// # Routes and matchers
//
// A route is a [Matcher] and a handler, registered with [Router.On] or a
// convenience: OnMessage, OnEvent, OnCommand, OnRegex, OnPrefix,
// OnKeyword, OnFile, OnExpr. Matchers combine with [And], [Or] and
// [Not]; a route's matcher that is an And counts as the route's own list
// of matchers.
//
// Registration validates everything it can, and a programmer's mistake
// (a nil handler, a bad command spec or regex in code, matchers that can
// never match together, a conflicting command, registering after the
// router started serving) panics naming the caller's file:line, as
// net/http's ServeMux does. Text that users supply has error-returning
// forms: [Expr], [Router.OnExpr], [ParseCommand], [Regexp].
//
// # Text
//
// The text of a message, which commands, regexes, keywords, prefixes and
// [Env].Text look at, is im.Message.Text: the "text" member of its JSON
// content, as im.TextContent makes it ({"text":"hi"}), or "" when the
// content carries none.
//
// # Commands
//
// A command spec such as "/weather <city> [days:int]" names the command
// and its arguments (see [ParseCommand]): required <name> and optional
// [name], typed string (the default; one word or a "quoted phrase"), int,
// float, bool, or rest (the rest of the text). A message matches when the
// first word of its text, white space trimmed, is the command's name; its
// arguments become route parameters (c.Param("city")), converted where
// the type says (a bool is "true" or "false"), and read typed with
// [ParamInt], [ParamFloat] and [ParamBool].
//
// A spec without arguments, such as "/help", takes the command followed
// by any text ("/help me", "/start ref42") and ignores the text: its
// handler runs, with no route parameters. A handler that reads that text
// declares it as a rest argument, "/start [payload:rest]", and reads
// c.Param("payload") (white space trimmed; "" when there is none). A spec
// with arguments refuses text after the last one: "/weather paris 3 now"
// is too many arguments for "/weather <city> [days:int]".
//
// A message that names a route's command but whose arguments are bad (one
// missing, one of the wrong type, too many for a spec with arguments) is
// still a match for that route: instead of the route's handler, the
// router runs the usage handler, inside the route's middleware, with a
// [UsageError]. The default, [DefaultUsageHandler], replies with the
// spec, its types shown, and in parentheses the argument at fault and
// what is wrong with it, or only what is wrong when there are too many
// arguments:
//
//	usage: /weather <city> [days:int] (city: missing)
//	usage: /weather <city> [days:int] (days: "soon" is not an int)
//	usage: /weather <city> [days:int] (too many arguments)
//
// Set another with [Router.OnUsageError]; the UsageError holds the
// pieces: Usage (the spec without types), Spec, Arg and Reason. Like a
// route's handler, the usage handler may return ErrContinue. This holds
// for a command that is the route's matcher or one of its top-level And;
// inside Or or Not, bad arguments simply do not match.
//
// # Route parameters
//
// A command's arguments and a regex's named captures are route
// parameters, read with c.Param. A route's matchers find them while the
// route is tried, and the router sets them on the Context only when the
// route matches, just before its handler (or usage handler) runs, so that
// a handler sees the parameters of its own route and of no other: a route
// that a later matcher rejects sets none, and neither does a branch of
// [Or] that failed or a matcher under [Not]. When a handler passes the
// event on with [ErrContinue], the router takes its route's parameters
// back before it tries the next route: each gets the value it had before,
// and one the Context did not have is removed again. Parameters the
// Context had when Handle began, such as an outer router's, stay unless
// the route sets the same name; those of the route that handled the event
// stay after Handle returns. A custom [Matcher] sets its parameters on the
// Context directly; see its documentation.
//
// # Precedence
//
// Every event is tried against the routes that can match it (see Index
// below), in this order:
//
//  1. Priority: a route with a higher [Priority] is tried first. The
//     default priority is 0.
//  2. Registration order: among routes of equal priority, the one
//     registered first is tried first. Specificity does not reorder
//     routes; a specific route that must win over a general one
//     registered earlier needs a higher priority.
//
// The first route that matches handles the event, and its handler's error
// is what [Router.Handle] returns. A handler that returns [ErrContinue]
// (or an error wrapping it) passes the event on: the next matching route
// in the same order runs. When no route matches, or every route that
// matched passed the event on, the NotFound handler runs (see
// [Router.NotFound]); by default nothing runs and Handle returns nil.
//
// Registering a command route that can never fire panics, naming its
// file:line and those of the routes that take all its events. It can
// never fire when routes registered before it, at its priority and for
// its command (whatever their arguments), take every message it could
// take: their only matchers besides the command are [Kind] and the
// conversation-type matchers ([InConversation], [InGroup], …), and
// together they allow each conversation type it allows (a route that
// allows any conversation type, and events with none, is covered only by
// one that does too). Any other matcher on an earlier route (a mention, a
// regex, a message type, Or, Not, an expression, a custom Matcher) leaves
// the later route the messages it rejects: And(Command("/x"),
// MentionsBot()) followed by OnCommand("/x") is fine, the second gets the
// messages that do not mention the bot. So is "/ban" for groups followed
// by "/ban" for single chats, or for any conversation. The rule leaves
// [ErrContinue] aside: for a route that runs when another for its command
// passes the event on, use a lower priority. At different priorities the
// same command may be registered twice; the lower one runs when the
// higher passes the event on or does not match.
//
// # Index
//
// Routes are kept in buckets so that the cost of a dispatch does not grow
// with routes that cannot match its event. The index only leaves out
// routes that cannot match: the ones it selects are tried in the order of
// Precedence above, as if every route were. A route is filed:
//
//  1. By the event kinds it can match: a message matcher (a command, a
//     regex, a keyword, a prefix, a mention, a message type) implies
//     messages; [Kind] says so explicitly; an [Expr] that holds only
//     when Kind == "name" or Kind in ["name", …] (alone, in a conjunct of
//     &&, or in every branch of ||) is for those kinds. A route that
//     constrains no kind, such as another lone Expr, goes in an "any
//     kind" set.
//  2. Within a kind, by its command's name, if it has one.
//  3. Then by the conversation types it allows ([InConversation],
//     [InGroup], …), or in the bucket for any conversation type.
//  4. Then by a key, a condition on the message that the route needs:
//     a [Prefix] by its prefix, in a byte trie walked along the text
//     (leading white space trimmed); a regex given as a pattern ([Regex],
//     [Router.OnRegex]) anchored at the start (^ or \A, without the m
//     flag) by the case-sensitive literal text after the anchor, such as
//     "/weather " for `^/weather (\w+)`, in a trie walked along the text;
//     a [Keyword] whose words are all ASCII by its words, lower-cased, in
//     a trie walked from every byte of the text, as Keyword compares
//     ASCII letters regardless of case; [MentionsBot] and [MentionsAll],
//     and an expression that holds only when Mentioned (or MentionAll)
//     is true, by the message's mentions. [And] files a route by one of
//     its parts' keys (a prefix before a keyword before a mention), [Or]
//     by all of its branches' keys when each has one.
//
// These shapes are tried for every event of their kind, command and
// conversation type, in order: a regex without an anchored literal
// prefix (`hello`, `(?i)^hello`, `(?m)^hello`, `^(hello)`, `^a|^b`) and
// any regex compiled by the caller ([Regexp]: the index cannot tell
// whether it was parsed as Perl or POSIX syntax, where ^ differs); a
// keyword with a non-ASCII word (whose case folding may change the
// length of a rune); [MessageType] and [File]; [Not]; an Or with a
// branch that has no key; any other expression; and custom matchers.
// An expression whose kinds contradict the route's other matchers
// (And(Kind(message), Expr(`Kind == "friend added"`))) makes a route no event can take; as
// the expression may come from a user, that is not an error, and the
// route is filed in no bucket.
//
// A dispatch selects, for the event's kind, its command's buckets (the
// first word of the text, when it starts with "/") in the event's
// conversation type and in any type, then the kind's non-command buckets
// for the conversation type and for any type; and the same of the "any
// kind" set. In each it takes the routes without a key and those under
// the keys the message meets: the trie nodes on the text's path, the
// keywords the text holds, the mentions it has. It merges these lists by
// precedence, trying a route filed under several keys the event meets
// once. A dispatch that runs no expression allocates nothing (running
// one boxes its [Env]): the router's per-dispatch state,
// where the matchers record parameters and the merge keeps its lists, is
// pooled, the text is sliced from the content, and the parameters of the
// route that matched go into the Context's map (which the Context
// allocates on its first parameter). A route with a custom [Matcher]
// costs a copy of the parameters each time it is tried.
//
// [Router.Index] prints the buckets, one a line, the keyed ones before
// the plain one of their kind, command and conversation type:
//
//	message /weather Group: #3
//	message /weather: #4(p=10) #1
//	message Group mentions(bot): #5
//	message prefix "!": #7
//	message regex prefix "hello": #8
//	message keyword "weather": #9
//	message: #2
//	any kind: #6
//
// # Middleware and groups
//
// [Router.Use] adds middleware to every route registered afterwards on the
// router; [Router.Group] makes a router that shares the route table and
// copies the middleware stack, for middleware that wraps only some
// routes; [Router.With] does the same inline for one route. The stack is
// built into each route at registration, so Use after a route panics, as
// chi's does. A route's middleware runs around its handler only when the
// route matched (so for each route that ran, when handlers pass the event
// on with ErrContinue), never for routes that did not match; the NotFound
// handler runs inside the stack of the router it was set on.
//
// # Explain
//
// [Router.Explain] reports, without running handlers, which routes an
// event would be tried against, whether each matches and which matcher
// rejected it and why, and which route would handle it; its String is for
// logs and tests.
//
// # Concurrency
//
// Configure a Router before it serves: the first [Router.Handle] freezes
// its routes, and registering afterwards panics. Registration is guarded
// by a mutex; Handle and Explain are safe for concurrent use, as are all
// matchers.
package router
