package store_test

import (
	"testing"

	"github.com/imbot-go/imbot/imserver/store"
	"github.com/imbot-go/imbot/imserver/store/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dir string) store.Store { return store.NewMemory() })
}
