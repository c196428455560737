package im

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The seed (the SDK reference) is read from the shared folder when this
// repository sits next to it, and from a copy in testdata otherwise.
var seedPaths = []string{
	"../../shared/seed/000_02367a2524768dc5.txt",
	"testdata/seed.txt",
}

// seedTypes holds every Go type SEED.md names, for reflection.
var seedTypes = map[string]reflect.Type{
	// ids.go
	"UserID":              reflect.TypeFor[UserID](),
	"ConversationID":      reflect.TypeFor[ConversationID](),
	"ConversationShortID": reflect.TypeFor[ConversationShortID](),
	"MessageID":           reflect.TypeFor[MessageID](),
	"FriendApplyID":       reflect.TypeFor[FriendApplyID](),
	// enums.go
	"ConversationType":    reflect.TypeFor[ConversationType](),
	"ConversationStatus":  reflect.TypeFor[ConversationStatus](),
	"BlockStatus":         reflect.TypeFor[BlockStatus](),
	"GroupRole":           reflect.TypeFor[GroupRole](),
	"StickTopState":       reflect.TypeFor[StickTopState](),
	"MuteState":           reflect.TypeFor[MuteState](),
	"FavoriteState":       reflect.TypeFor[FavoriteState](),
	"PushStatus":          reflect.TypeFor[PushStatus](),
	"ServerMessageStatus": reflect.TypeFor[ServerMessageStatus](),
	"FlightStatus":        reflect.TypeFor[FlightStatus](),
	"PropertyStatus":      reflect.TypeFor[PropertyStatus](),
	"MessageStatus":       reflect.TypeFor[MessageStatus](),
	"MessageSource":       reflect.TypeFor[MessageSource](),
	"MessagePriority":     reflect.TypeFor[MessagePriority](),
	"MessageDirection":    reflect.TypeFor[MessageDirection](),
	"OperationType":       reflect.TypeFor[OperationType](),
	"SortType":            reflect.TypeFor[SortType](),
	"AuthType":            reflect.TypeFor[AuthType](),
	"WebSocketLevel":      reflect.TypeFor[WebSocketLevel](),
	"TriggerType":         reflect.TypeFor[TriggerType](),
	"InitResult":          reflect.TypeFor[InitResult](),
	"ErrorType":           reflect.TypeFor[ErrorType](),
	"FileType":            reflect.TypeFor[FileType](),
	// infokeys.go
	"InfoKey": reflect.TypeFor[InfoKey](),
	// message.go
	"MessageType":                 reflect.TypeFor[MessageType](),
	"Message":                     reflect.TypeFor[Message](),
	"MessageProperty":             reflect.TypeFor[MessageProperty](),
	"ReferenceInfo":               reflect.TypeFor[ReferenceInfo](),
	"ModifyMessagePropertyResult": reflect.TypeFor[ModifyMessagePropertyResult](),
	"FileInfo":                    reflect.TypeFor[FileInfo](),
	"Upload":                      reflect.TypeFor[Upload](),
	"UploadProgress":              reflect.TypeFor[UploadProgress](),
	// conversation.go
	"Conversation":                     reflect.TypeFor[Conversation](),
	"Participant":                      reflect.TypeFor[Participant](),
	"ConversationCoreInfo":             reflect.TypeFor[ConversationCoreInfo](),
	"ConversationSettingInfo":          reflect.TypeFor[ConversationSettingInfo](),
	"ConversationSettingWeakMuteInfo":  reflect.TypeFor[ConversationSettingWeakMuteInfo](),
	"LiveMemberInfo":                   reflect.TypeFor[LiveMemberInfo](),
	"CreateConversationResult":         reflect.TypeFor[CreateConversationResult](),
	"SetConversationSettingInfoResult": reflect.TypeFor[SetConversationSettingInfoResult](),
	"AddParticipantResult":             reflect.TypeFor[AddParticipantResult](),
	"RemoveParticipantResult":          reflect.TypeFor[RemoveParticipantResult](),
	"UpdateParticipantResult":          reflect.TypeFor[UpdateParticipantResult](),
	// friend.go
	"Friend":              reflect.TypeFor[Friend](),
	"FriendApply":         reflect.TypeFor[FriendApply](),
	"FriendApplyStatus":   reflect.TypeFor[FriendApplyStatus](),
	"ReplyFriendAttitude": reflect.TypeFor[ReplyFriendAttitude](),

	// From the other files of the package (listed in otherFiles).
	"Options":       reflect.TypeFor[Options](),
	"TokenProvider": reflect.TypeFor[TokenProvider](),
	"Result":        reflect.TypeFor[Result[any]](),
	"Error":         reflect.TypeFor[Error](),
	"Subscription":  reflect.TypeFor[Subscription](),
	"Client":        reflect.TypeFor[Client](),
}

// seedConsts holds every Go constant SEED.md names; for the seed's enum
// members the test compares their values with the seed's.
var seedConsts = map[string]any{
	"FriendApplyStatusWaiting": FriendApplyStatusWaiting,
	"FriendApplyStatusAgree":   FriendApplyStatusAgree,
	"FriendApplyStatusRefuse":  FriendApplyStatusRefuse,

	"MessageDirectionOlder": MessageDirectionOlder,
	"MessageDirectionNewer": MessageDirectionNewer,

	"ReplyFriendAttitudeAccept": ReplyFriendAttitudeAccept,
	"ReplyFriendAttitudeReject": ReplyFriendAttitudeReject,

	"InitResultStart":     InitResultStart,
	"InitResultError":     InitResultError,
	"InitResultSucceeded": InitResultSucceeded,

	"ConversationTypeOneToOne": ConversationTypeOneToOne,
	"ConversationTypeGroup":    ConversationTypeGroup,
	"ConversationTypeMassChat": ConversationTypeMassChat,

	"ConversationStatusNormal":    ConversationStatusNormal,
	"ConversationStatusDissolved": ConversationStatusDissolved,

	"BlockStatusUnblock": BlockStatusUnblock,
	"BlockStatusBlock":   BlockStatusBlock,

	"StickTopStateOff": StickTopStateOff,
	"StickTopStateOn":  StickTopStateOn,
	"MuteStateOff":     MuteStateOff,
	"MuteStateOn":      MuteStateOn,
	"FavoriteStateOff": FavoriteStateOff,
	"FavoriteStateOn":  FavoriteStateOn,

	"ServerMessageStatusEnable":  ServerMessageStatusEnable,
	"ServerMessageStatusDisable": ServerMessageStatusDisable,

	"FlightStatusCreated":     FlightStatusCreated,
	"FlightStatusPreparing":   FlightStatusPreparing,
	"FlightStatusInflight":    FlightStatusInflight,
	"FlightStatusSucceeded":   FlightStatusSucceeded,
	"FlightStatusReceived":    FlightStatusReceived,
	"FlightStatusFailed":      FlightStatusFailed,
	"FlightStatusRejected":    FlightStatusRejected,
	"FlightStatusSelfVisible": FlightStatusSelfVisible,

	"PropertyStatusSending": PropertyStatusSending,
	"PropertyStatusSuccess": PropertyStatusSuccess,
	"PropertyStatusFailed":  PropertyStatusFailed,

	"MessageStatusAvailable": MessageStatusAvailable,
	"MessageStatusNotExist":  MessageStatusNotExist,
	"MessageStatusInvisible": MessageStatusInvisible,
	"MessageStatusRecalled":  MessageStatusRecalled,
	"MessageStatusDeleted":   MessageStatusDeleted,

	"MessageSourceOnline":    MessageSourceOnline,
	"MessageSourceLoadMore":  MessageSourceLoadMore,
	"MessageSourceInit":      MessageSourceInit,
	"MessageSourceUserInbox": MessageSourceUserInbox,
	"MessageSourceOffline":   MessageSourceOffline,

	"MessagePriorityLow":    MessagePriorityLow,
	"MessagePriorityNormal": MessagePriorityNormal,
	"MessagePriorityHigh":   MessagePriorityHigh,

	"ErrorTypeUnknown":         ErrorTypeUnknown,
	"ErrorTypeNetwork":         ErrorTypeNetwork,
	"ErrorTypeTimeout":         ErrorTypeTimeout,
	"ErrorTypeServer":          ErrorTypeServer,
	"ErrorTypeInvalidArgument": ErrorTypeInvalidArgument,
	"ErrorTypeClosed":          ErrorTypeClosed,

	"OperationTypeAddPropertyItem":    OperationTypeAddPropertyItem,
	"OperationTypeRemovePropertyItem": OperationTypeRemovePropertyItem,
	"OperationTypeSetProperty":        OperationTypeSetProperty,
	"OperationTypeDelProperty":        OperationTypeDelProperty,

	"SortTypeJoinTime":    SortTypeJoinTime,
	"SortTypeCreatedTime": SortTypeCreatedTime,
	"SortTypeGroupName":   SortTypeGroupName,
	"SortTypeActiveTime":  SortTypeActiveTime,

	"PushStatusUnknown":   PushStatusUnknown,
	"PushStatusAllow":     PushStatusAllow,
	"PushStatusDisable":   PushStatusDisable,
	"PushStatusPartAllow": PushStatusPartAllow,

	"InfoKeyMessageMode":                  InfoKeyMessageMode,
	"InfoKeySendResponseStatus":           InfoKeySendResponseStatus,
	"InfoKeySendResponseExtraInfo":        InfoKeySendResponseExtraInfo,
	"InfoKeySendResponseCheckCode":        InfoKeySendResponseCheckCode,
	"InfoKeySendResponseCheckMessage":     InfoKeySendResponseCheckMessage,
	"InfoKeyClientMessageID":              InfoKeyClientMessageID,
	"InfoKeyMentionedUsers":               InfoKeyMentionedUsers,
	"InfoKeyDoNotIncreaseUnread":          InfoKeyDoNotIncreaseUnread,
	"InfoKeyDoNotPopConversation":         InfoKeyDoNotPopConversation,
	"InfoKeyIsRecalled":                   InfoKeyIsRecalled,
	"InfoKeyServerMessageID":              InfoKeyServerMessageID,
	"InfoKeyLocalLogID":                   InfoKeyLocalLogID,
	"InfoKeyMessageVisible":               InfoKeyMessageVisible,
	"InfoKeyMessageInvisible":             InfoKeyMessageInvisible,
	"InfoKeyIsRootReference":              InfoKeyIsRootReference,
	"InfoKeyMarkMessageNewExt":            InfoKeyMarkMessageNewExt,
	"InfoKeyDoNotUpdateLastMessage":       InfoKeyDoNotUpdateLastMessage,
	"InfoKeyDoNotMoveReadIndex":           InfoKeyDoNotMoveReadIndex,
	"InfoKeyFileExtKeyAudioAsrText":       InfoKeyFileExtKeyAudioAsrText,
	"InfoKeyRecognitionResponseCheckCode": InfoKeyRecognitionResponseCheckCode,
	"InfoKeyRecognitionResponseCheckMsg":  InfoKeyRecognitionResponseCheckMsg,
	"InfoKeyPushPartDisableConfig":        InfoKeyPushPartDisableConfig,
	"InfoKeyMustNotify":                   InfoKeyMustNotify,
	"InfoKeyMessagePriority":              InfoKeyMessagePriority,
	"InfoKeyPushStatus":                   InfoKeyPushStatus,

	"AuthTypeSession": AuthTypeSession,
	"AuthTypeToken":   AuthTypeToken,
	"AuthTypeCert":    AuthTypeCert,

	"WebSocketLevelDefault":  WebSocketLevelDefault,
	"WebSocketLevelPushOnly": WebSocketLevelPushOnly,
	"WebSocketLevelAll":      WebSocketLevelAll,
	"WebSocketLevelDisable":  WebSocketLevelDisable,

	"TriggerTypeImmediate":        TriggerTypeImmediate,
	"TriggerTypeThrottle":         TriggerTypeThrottle,
	"TriggerTypeDebounce":         TriggerTypeDebounce,
	"TriggerTypeThrottleWithArgs": TriggerTypeThrottleWithArgs,
	"TriggerTypeDebounceWithArgs": TriggerTypeDebounceWithArgs,

	"GroupRoleOrdinary": GroupRoleOrdinary,
	"GroupRoleOwner":    GroupRoleOwner,
	"GroupRoleManager":  GroupRoleManager,
	"GroupRoleVisitor":  GroupRoleVisitor,

	"MessageTypeText":     MessageTypeText,
	"MessageTypeSticker":  MessageTypeSticker,
	"MessageTypeImage":    MessageTypeImage,
	"MessageTypeVideo":    MessageTypeVideo,
	"MessageTypeFile":     MessageTypeFile,
	"MessageTypeAudio":    MessageTypeAudio,
	"MessageTypeLocation": MessageTypeLocation,
	"MessageTypeSystem":   MessageTypeSystem,
	"MessageTypeLink":     MessageTypeLink,
	"MessageTypeCustom":   MessageTypeCustom,
	"MessageTypeCommand":  MessageTypeCommand,

	"FileTypeImage": FileTypeImage,
	"FileTypeVideo": FileTypeVideo,
	"FileTypeAudio": FileTypeAudio,
	"FileTypeFile":  FileTypeFile,

	// From the other files of the package (listed in otherFiles).
	"PullOff": PullOff,
}

// seedFuncs holds the functions SEED.md names.
var seedFuncs = map[string]any{
	"SingleChatID": SingleChatID,
}

// otherFiles lists the names SEED.md maps to that the other files of the
// package define (client.go, options.go, errors.go, events.go). Should one
// of them be missing from the registries above (its file not written yet),
// its rows are skipped with a log line rather than failed.
var otherFiles = map[string]bool{
	"Options": true, "TokenProvider": true, "PullOff": true,
	"Result": true, "Error": true, "Subscription": true, "Client": true,
}

// errElsewhere marks a name of otherFiles that the registries lack.
var errElsewhere = errors.New("defined in a file not written yet")

// resolveGoName checks that a Go name of SEED.md exists: a registered type,
// constant or function, or Type.Member where Member is a field (promoted
// ones too) or a method of the type or its pointer.
func resolveGoName(name string) error {
	typ, member, isMember := strings.Cut(name, ".")
	if !isMember {
		_, isType := seedTypes[name]
		_, isConst := seedConsts[name]
		_, isFunc := seedFuncs[name]
		switch {
		case isType || isConst || isFunc:
			return nil
		case otherFiles[name]:
			return errElsewhere
		}
		return errors.New(name + " is not registered in seed_test.go as a type, constant or function")
	}
	t, ok := seedTypes[typ]
	if !ok {
		if otherFiles[typ] {
			return errElsewhere
		}
		return errors.New("type " + typ + " is not registered in seed_test.go")
	}
	if t.Kind() == reflect.Struct {
		if _, ok := t.FieldByName(member); ok {
			return nil
		}
	}
	if _, ok := reflect.PointerTo(t).MethodByName(member); ok {
		return nil
	}
	return errors.New(t.String() + " has no field or method " + member)
}

// seedMember is a field, enum member or type-literal member of the seed.
type seedMember struct {
	key   string // Heading.name, or "Heading.name = value" for a repeated name
	value string // an enum member's value as the seed writes it; "" otherwise
	line  int
}

// seedDoc is what the test reads from the seed.
type seedDoc struct {
	headings []string
	members  []seedMember
}

var (
	seedHeadingRE = regexp.MustCompile(`^## (\S+)`)
	seedFieldRE   = regexp.MustCompile(`^<p style="[^"]*">\s*(\S+)\s*<span id=`)
	seedEnumRE    = regexp.MustCompile("^\\s*\\|\\s*(\\w+)\\s*\\|\\s*`([^`]*)`\\s*\\|")
	seedTSFieldRE = regexp.MustCompile(`^\s+(\w+)\??:\s`)
	backticksRE   = regexp.MustCompile("`([^`]+)`")
)

// parseSeed reads the seed's headings and members: the fields written as
// <p …> name <span id=…>, the rows of enum tables, and the members of TS
// type literals in code blocks.
func parseSeed(text string) seedDoc {
	var doc seedDoc
	var heading string
	inCode := false
	seen := map[string]bool{}
	add := func(name, value string, line int) {
		key := heading + "." + name
		if seen[key] {
			key += " = " + value
		}
		seen[key] = true
		doc.members = append(doc.members, seedMember{key: key, value: value, line: line})
	}
	for i, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inCode = !inCode
			continue
		}
		if m := seedHeadingRE.FindStringSubmatch(line); m != nil {
			heading = m[1]
			doc.headings = append(doc.headings, heading)
			continue
		}
		if heading == "" {
			continue
		}
		switch {
		case inCode:
			if m := seedTSFieldRE.FindStringSubmatch(line); m != nil {
				add(m[1], "", i+1)
			}
		case seedFieldRE.MatchString(line):
			add(seedFieldRE.FindStringSubmatch(line)[1], "", i+1)
		case seedEnumRE.MatchString(line):
			m := seedEnumRE.FindStringSubmatch(line)
			add(m[1], m[2], i+1)
		}
	}
	return doc
}

// seedRow is a row of SEED.md.
type seedRow struct {
	seed    string
	goNames []string
	none    bool // "—": no Go counterpart
	note    string
	line    int
}

// parseSeedTable reads the rows of SEED.md's tables whose first cell is a
// seed name in backticks.
func parseSeedTable(t *testing.T, text string) map[string]seedRow {
	t.Helper()
	rows := map[string]seedRow{}
	for i, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(line, "|")
		if !assert.GreaterOrEqual(t, len(cells), 5, "SEED.md:%d: want 3 cells: %q", i+1, line) {
			continue
		}
		m := backticksRE.FindStringSubmatch(cells[1])
		r := seedRow{seed: m[1], line: i + 1, note: strings.TrimSpace(strings.Join(cells[3:len(cells)-1], "|"))}
		goCell := strings.TrimSpace(cells[2])
		if strings.HasPrefix(goCell, "—") {
			r.none = true
		}
		for _, g := range backticksRE.FindAllStringSubmatch(goCell, -1) {
			r.goNames = append(r.goNames, g[1])
		}
		_, dup := rows[r.seed]
		assert.False(t, dup, "SEED.md:%d: %s has two rows", r.line, r.seed)
		rows[r.seed] = r
	}
	return rows
}

func readSeedFiles(t *testing.T) (seed, table string) {
	t.Helper()
	var b []byte
	var err error
	for _, p := range seedPaths {
		if b, err = os.ReadFile(p); err == nil {
			break
		}
	}
	require.NoError(t, err, "reading the seed")
	tb, err := os.ReadFile("SEED.md")
	require.NoError(t, err)
	return string(b), string(tb)
}

// TestSeedCopyIsCurrent keeps testdata/seed.txt equal to the shared seed
// when both are there.
func TestSeedCopyIsCurrent(t *testing.T) {
	t.Parallel()
	shared, err := os.ReadFile(seedPaths[0])
	if err != nil {
		t.Skipf("shared seed not here (%v); testdata/seed.txt stands in", err)
	}
	local, err := os.ReadFile(seedPaths[1])
	require.NoError(t, err)
	assert.True(t, bytes.Equal(shared, local), "testdata/seed.txt differs from %s: copy it again", seedPaths[0])
}

// TestSeedTableCoversSeed checks that SEED.md has a row for every heading,
// field and enum member of the seed, and that each enum member's Go
// constant has the seed's value.
func TestSeedTableCoversSeed(t *testing.T) {
	t.Parallel()
	seed, table := readSeedFiles(t)
	doc := parseSeed(seed)
	rows := parseSeedTable(t, table)
	require.GreaterOrEqual(t, len(doc.headings), 40, "headings read from the seed: the parser no longer fits it")
	require.GreaterOrEqual(t, len(doc.members), 300, "members read from the seed: the parser no longer fits it")
	for _, h := range doc.headings {
		_, ok := rows[h]
		assert.True(t, ok, "seed heading %q has no row in SEED.md", h)
	}
	for _, m := range doc.members {
		r, ok := rows[m.key]
		if !assert.True(t, ok, "seed line %d: %s has no row in SEED.md", m.line, m.key) {
			continue
		}
		if m.value == "" || r.none || len(r.goNames) == 0 {
			continue
		}
		c, ok := seedConsts[r.goNames[0]]
		if !assert.True(t, ok, "SEED.md:%d: %s maps first to %s, which is not a registered constant", r.line, m.key, r.goNames[0]) {
			continue
		}
		assert.Equal(t, strings.Trim(m.value, "'"), constString(c), "%s = %s in the seed, but %s differs", m.key, m.value, r.goNames[0])
	}
}

// constString renders an integer or string constant as the seed writes
// values.
func constString(c any) string {
	v := reflect.ValueOf(c)
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	}
	return "unsupported kind " + v.Kind().String()
}

// TestSeedTableGoNamesExist checks every row of SEED.md: it maps to Go names
// that exist, or says "—" with a reason.
func TestSeedTableGoNamesExist(t *testing.T) {
	t.Parallel()
	_, table := readSeedFiles(t)
	rows := parseSeedTable(t, table)
	require.GreaterOrEqual(t, len(rows), 300, "rows read from SEED.md")
	for _, r := range rows {
		if r.none {
			if assert.Empty(t, r.goNames, "SEED.md:%d: %s says — but names Go names", r.line, r.seed) {
				assert.NotEmpty(t, r.note, "SEED.md:%d: %s maps to — without a reason", r.line, r.seed)
			}
		} else {
			assert.NotEmpty(t, r.goNames, "SEED.md:%d: %s maps to nothing", r.line, r.seed)
		}
		for _, g := range r.goNames {
			switch err := resolveGoName(g); {
			case errors.Is(err, errElsewhere):
				t.Logf("SEED.md:%d: %s → %s not checked: %v", r.line, r.seed, g, err)
			default:
				assert.NoError(t, err, "SEED.md:%d: %s → %s", r.line, r.seed, g)
			}
		}
	}
}

// TestResolveGoName checks the checker.
func TestResolveGoName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		wantErr string
	}{
		{name: "Message"},
		{name: "Message.ServerID"},
		{name: "Message.IsMentioned"},          // pointer method
		{name: "MessageType.IsSpecial"},        // value method
		{name: "AddParticipantResult.Payload"}, // promoted field
		{name: "ModifyMessagePropertyResult.Err"},
		{name: "FlightStatusInflight"},
		{name: "SingleChatID"},
		{name: "Message.NoSuchField", wantErr: "no field or method"},
		{name: "NoSuchType.Field", wantErr: "not registered"},
		{name: "NoSuchConst", wantErr: "not registered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := resolveGoName(tt.name)
			if tt.wantErr == "" {
				assert.NoError(t, err, "resolveGoName(%q)", tt.name)
			} else {
				assert.ErrorContains(t, err, tt.wantErr, "resolveGoName(%q)", tt.name)
			}
		})
	}
}
