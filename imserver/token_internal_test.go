package imserver

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMintTokenIsDistinct mints many tokens for one user within the same
// second: each differs from the others, so that a client renewing its
// token can tell the new one from the old, and each verifies. A token in
// the format without the nonce still verifies.
func TestMintTokenIsDistinct(t *testing.T) {
	const appID, user, secret = 1, 1001, "s"
	now := time.Now()
	expiry := now.Add(time.Hour).Truncate(time.Second)
	seen := make(map[string]bool)
	for range 1000 {
		tok := MintToken(appID, user, secret, expiry)
		require.False(t, seen[tok], "token minted twice")
		seen[tok] = true
		got, err := VerifyToken(tok, appID, secret, now)
		require.NoError(t, err)
		require.Equal(t, int64(user), got)
	}

	signed := tokenPrefix + tokenEncoding.EncodeToString(fmt.Appendf(nil, "%d:%d:%d", appID, user, expiry.Unix()))
	legacy := signed + "." + tokenEncoding.EncodeToString(tokenMAC(secret, signed))
	got, err := VerifyToken(legacy, appID, secret, now)
	require.NoError(t, err, "a token without the nonce")
	assert.Equal(t, int64(user), got)

	signed = tokenPrefix + tokenEncoding.EncodeToString(fmt.Appendf(nil, "%d:%d:%d:", appID, user, expiry.Unix()))
	_, err = VerifyToken(signed+"."+tokenEncoding.EncodeToString(tokenMAC(secret, signed)), appID, secret, now)
	require.ErrorIs(t, err, ErrTokenInvalid, "an empty nonce")
}
