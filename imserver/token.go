package imserver

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Token errors, wrapped by the errors VerifyToken returns.
var (
	// ErrTokenExpired means the token was valid but its time is up; the
	// server answers EXPIRED_TOKEN so that a client can fetch a new one.
	ErrTokenExpired = errors.New("imserver: token expired")
	// ErrTokenInvalid means the token is missing, malformed, forged, or
	// minted for another app; the server answers INVALID_TOKEN.
	ErrTokenInvalid = errors.New("imserver: invalid token")
)

// tokenPrefix versions the format so that it can change without
// ambiguity.
const tokenPrefix = "imbot1."

// tokenEncoding is strict so that a token has one spelling: a lax decoder
// ignores the unused low bits of the last character, and would take
// altered copies of a signature as valid.
var tokenEncoding = base64.RawURLEncoding.Strict()

// MintToken returns a token that lets userID of appID in until expiry.
//
// A token is "imbot1." + base64url("appID:userID:expiryUnix:nonce") + "."
// + base64url(HMAC-SHA256(secret, the part before the last dot)), where
// nonce is 16 random hex digits, so that two tokens minted for the same
// user and second still differ (a client that renews its token can tell
// the new one from the old). IM Cloud's own format is not public; this one
// carries what its token auth binds: app, user and expiry, signed with the
// app secret. VerifyToken also accepts the claims without the nonce, as
// tokens were minted before it.
func MintToken(appID, userID int64, secret string, expiry time.Time) string {
	var nonce [8]byte
	_, _ = rand.Read(nonce[:]) // never fails (crypto/rand)
	claims := tokenEncoding.EncodeToString(fmt.Appendf(nil, "%d:%d:%d:%x", appID, userID, expiry.Unix(), nonce))
	signed := tokenPrefix + claims
	return signed + "." + tokenEncoding.EncodeToString(tokenMAC(secret, signed))
}

func tokenMAC(secret, signed string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(signed))
	return m.Sum(nil)
}

// VerifyToken checks token against appID and secret at time now and
// returns the user it was minted for. Errors wrap ErrTokenInvalid or
// ErrTokenExpired; they never contain the token.
func VerifyToken(token string, appID int64, secret string, now time.Time) (userID int64, err error) {
	if token == "" {
		return 0, fmt.Errorf("%w: no token", ErrTokenInvalid)
	}
	dot := strings.LastIndexByte(token, '.')
	if !strings.HasPrefix(token, tokenPrefix) || dot < len(tokenPrefix) {
		return 0, fmt.Errorf("%w: not an imbot token", ErrTokenInvalid)
	}
	signed, sig := token[:dot], token[dot+1:]
	mac, err := tokenEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(mac, tokenMAC(secret, signed)) {
		return 0, fmt.Errorf("%w: bad signature", ErrTokenInvalid)
	}
	raw, err := tokenEncoding.DecodeString(signed[len(tokenPrefix):])
	if err != nil {
		return 0, fmt.Errorf("%w: bad claims", ErrTokenInvalid)
	}
	parts := strings.Split(string(raw), ":")
	if len(parts) != 3 && (len(parts) != 4 || parts[3] == "") {
		return 0, fmt.Errorf("%w: bad claims", ErrTokenInvalid)
	}
	var nums [3]int64
	for i, p := range parts[:3] {
		if nums[i], err = strconv.ParseInt(p, 10, 64); err != nil {
			return 0, fmt.Errorf("%w: bad claims", ErrTokenInvalid)
		}
	}
	if nums[0] != appID {
		return 0, fmt.Errorf("%w: minted for another app", ErrTokenInvalid)
	}
	if nums[1] <= 0 {
		return 0, fmt.Errorf("%w: bad user id", ErrTokenInvalid)
	}
	if !now.Before(time.Unix(nums[2], 0)) {
		return 0, fmt.Errorf("%w for user %d", ErrTokenExpired, nums[1])
	}
	return nums[1], nil
}
