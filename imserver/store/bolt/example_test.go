package bolt_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/imbot-go/imbot/imserver/store"
	"github.com/imbot-go/imbot/imserver/store/bolt"
)

func Example() {
	dir, err := os.MkdirTemp("", "imbot-bolt-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := bolt.Open(filepath.Join(dir, "im.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// Update commits, and fsyncs, when the function returns nil.
	err = s.Update(func(tx store.Tx) error {
		for _, name := range []string{"carol", "alice", "bob"} {
			if err := tx.Put("users", []byte(name), []byte("online")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}

	// View sees a snapshot; keys come back in byte order.
	err = s.View(func(tx store.Tx) error {
		fmt.Printf("bob is %s\n", tx.Get("users", []byte("bob")))
		return tx.Ascend("users", nil, nil, func(k, v []byte) bool {
			fmt.Println(string(k))
			return true
		})
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// bob is online
	// alice
	// bob
	// carol
}
