package imserver

import (
	"testing"
)

func TestRecordsRoundTrip(t *testing.T) {
	conv := convRecord{ID: "0:1:1:2", ShortID: 7, Type: typeSingle, Inbox: 3, LastIndex: 42, LastOrder: 1 << 50,
		Members: 2, CreateTime: 1700000000000, Dissolved: true}
	var got convRecord
	if err := got.unmarshal(conv.marshal()); err != nil || got != conv {
		t.Fatalf("conv record: %+v, %v", got, err)
	}
	uc := userConvRecord{JoinTime: 5, DeletedAt: 9, Deleted: true, Left: true}
	var gotUC userConvRecord
	if err := gotUC.unmarshal(uc.marshal()); err != nil || gotUC != uc {
		t.Fatalf("user conv record: %+v, %v", gotUC, err)
	}
	for _, bad := range [][]byte{nil, {}, {9}, conv.marshal()[:5], {recordVersion, 0x7f}} {
		if err := got.unmarshal(bad); err == nil {
			t.Errorf("unmarshal(% x) accepted a corrupt record", bad)
		}
	}
}
