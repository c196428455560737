package imserver

import (
	"context"
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
	nums, ok := decodeClaims(signed[len(tokenPrefix):])
	if !ok {
		return 0, fmt.Errorf("%w: bad claims", ErrTokenInvalid)
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

// TokenExpiry returns when token, minted by MintToken, expires, or the
// zero time when it is not such a token. It reads the claims without
// checking the signature: it tells a client when to renew (im.Options's
// TokenExpiry), not whether the token is good.
func TokenExpiry(token string) time.Time {
	dot := strings.LastIndexByte(token, '.')
	if !strings.HasPrefix(token, tokenPrefix) || dot < len(tokenPrefix) {
		return time.Time{}
	}
	nums, ok := decodeClaims(token[len(tokenPrefix):dot])
	if !ok {
		return time.Time{}
	}
	return time.Unix(nums[2], 0)
}

// decodeClaims reads the app id, user id and expiry of a token's encoded
// claims ("appID:userID:expiryUnix", with or without ":nonce").
func decodeClaims(encoded string) (nums [3]int64, ok bool) {
	raw, err := tokenEncoding.DecodeString(encoded)
	if err != nil {
		return nums, false
	}
	parts := strings.Split(string(raw), ":")
	if len(parts) != 3 && (len(parts) != 4 || parts[3] == "") {
		return nums, false
	}
	for i, p := range parts[:3] {
		if nums[i], err = strconv.ParseInt(p, 10, 64); err != nil {
			return nums, false
		}
	}
	return nums, true
}

// TokenSource returns a token provider (an im.TokenProvider) that mints a
// new token for userID, valid for ttl, at each call: with im.Options's
// TokenExpiry set to TokenExpiry, a client renews it before it expires,
// so a bot on the embedded server runs past any one token's life.
func TokenSource(appID, userID int64, secret string, ttl time.Duration) func(context.Context) (string, error) {
	return func(context.Context) (string, error) {
		if userID <= 0 || ttl <= 0 {
			return "", fmt.Errorf("imserver: TokenSource needs a positive user id and ttl, got %d and %v", userID, ttl)
		}
		return MintToken(appID, userID, secret, time.Now().Add(ttl)), nil
	}
}
