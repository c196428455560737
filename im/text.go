package im

import (
	"encoding/json"
	"unicode/utf8"
)

// contentText returns the "text" member of a message's JSON content (the
// last one when it repeats, as encoding/json decodes it), or "" when the
// content is not a JSON object or has no string "text". It is a scanner
// rather than encoding/json because routers read the text of every message
// and this allocates only when the text has escapes; FuzzContentText holds
// it to encoding/json's answers.
func contentText(content string) string {
	i := skipWS(content, 0)
	if i >= len(content) || content[i] != '{' {
		return ""
	}
	text, ok := objectText(content, i)
	if !ok {
		return ""
	}
	return text
}

func objectText(s string, i int) (text string, ok bool) {
	i = skipWS(s, i+1)
	if i < len(s) && s[i] == '}' {
		return "", skipWS(s, i+1) == len(s)
	}
	for {
		if i >= len(s) || s[i] != '"' {
			return "", false
		}
		kend, kesc, ok := scanString(s, i)
		if !ok {
			return "", false
		}
		isText := s[i+1:kend-1] == "text" && !kesc
		if kesc {
			isText = decodeString(s[i:kend]) == "text"
		}
		i = skipWS(s, kend)
		if i >= len(s) || s[i] != ':' {
			return "", false
		}
		i = skipWS(s, i+1)
		if isText {
			if i < len(s) && s[i] == '"' {
				vend, vesc, ok := scanString(s, i)
				if !ok {
					return "", false
				}
				if vesc {
					text = decodeString(s[i:vend])
				} else {
					text = s[i+1 : vend-1]
				}
				i = vend
			} else {
				// Not a string: encoding/json would not give a string either.
				text = ""
				if i, ok = skipValue(s, i, 0); !ok {
					return "", false
				}
			}
		} else if i, ok = skipValue(s, i, 0); !ok {
			return "", false
		}
		i = skipWS(s, i)
		if i >= len(s) {
			return "", false
		}
		switch s[i] {
		case ',':
			i = skipWS(s, i+1)
		case '}':
			return text, skipWS(s, i+1) == len(s)
		default:
			return "", false
		}
	}
}

func skipWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// scanString scans the JSON string starting at s[i] == '"' and returns the
// index after its closing quote and whether it needs decoding (escapes, or
// bytes that are not valid UTF-8, which encoding/json replaces).
func scanString(s string, i int) (end int, esc, ok bool) {
	for j := i + 1; j < len(s); {
		c := s[j]
		switch {
		case c == '"':
			return j + 1, esc, true
		case c == '\\':
			if j+1 >= len(s) {
				return 0, false, false
			}
			switch s[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(s) {
					return 0, false, false
				}
				for _, h := range []byte(s[j+2 : j+6]) {
					if !isHex(h) {
						return 0, false, false
					}
				}
				j += 6
			default:
				return 0, false, false
			}
			esc = true
		case c < 0x20:
			return 0, false, false
		case c < utf8.RuneSelf:
			j++
		default:
			r, size := utf8.DecodeRuneInString(s[j:])
			if r == utf8.RuneError && size == 1 {
				esc = true
			}
			j += size
		}
	}
	return 0, false, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// decodeString decodes a scanned JSON string (quotes included).
func decodeString(q string) string {
	var out string
	if json.Unmarshal([]byte(q), &out) != nil {
		return ""
	}
	return out
}

// maxDepth bounds the nesting skipValue follows, as encoding/json does.
const maxDepth = 10000

// skipValue skips the JSON value at s[i] and returns the index after it.
func skipValue(s string, i, depth int) (int, bool) {
	if i >= len(s) || depth > maxDepth {
		return 0, false
	}
	switch c := s[i]; {
	case c == '"':
		end, _, ok := scanString(s, i)
		return end, ok
	case c == '{' || c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i = skipWS(s, i+1)
		if i < len(s) && s[i] == closer {
			return i + 1, true
		}
		for {
			if c == '{' {
				if i >= len(s) || s[i] != '"' {
					return 0, false
				}
				end, _, ok := scanString(s, i)
				if !ok {
					return 0, false
				}
				i = skipWS(s, end)
				if i >= len(s) || s[i] != ':' {
					return 0, false
				}
				i = skipWS(s, i+1)
			}
			var ok bool
			if i, ok = skipValue(s, i, depth+1); !ok {
				return 0, false
			}
			i = skipWS(s, i)
			if i >= len(s) {
				return 0, false
			}
			if s[i] == closer {
				return i + 1, true
			}
			if s[i] != ',' {
				return 0, false
			}
			i = skipWS(s, i+1)
		}
	case c == 't':
		return skipLiteral(s, i, "true")
	case c == 'f':
		return skipLiteral(s, i, "false")
	case c == 'n':
		return skipLiteral(s, i, "null")
	default:
		return skipNumber(s, i)
	}
}

func skipLiteral(s string, i int, lit string) (int, bool) {
	if len(s)-i >= len(lit) && s[i:i+len(lit)] == lit {
		return i + len(lit), true
	}
	return 0, false
}

// skipNumber skips a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func skipNumber(s string, i int) (int, bool) {
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		i = skipDigits(s, i)
	default:
		return 0, false
	}
	if i < len(s) && s[i] == '.' {
		j := skipDigits(s, i+1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := skipDigits(s, i)
		if j == i {
			return 0, false
		}
		i = j
	}
	return i, true
}

func skipDigits(s string, i int) int {
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i
}
