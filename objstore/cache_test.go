package objstore

import "testing"

func TestCacheEvictsByBytes(t *testing.T) {
	c := NewCache(1000)
	id := func(i int) ID { return ID{byte(i), byte(i >> 8)} }
	for i := 0; i < 10; i++ {
		c.Add(KindTree, id(i), i, 200) // 2000 bytes offered, 1000 kept
	}
	st := c.Stats()
	if st.Bytes > 1000 || st.Entries != 5 {
		t.Fatalf("stats = %+v, want 5 entries within 1000 bytes", st)
	}
	if _, ok := c.Get(KindTree, id(0)); ok {
		t.Error("oldest entry survived")
	}
	// Touch 5 so that it survives the next insertion, and 6 goes instead.
	if v, ok := c.Get(KindTree, id(5)); !ok || v.(int) != 5 {
		t.Fatalf("Get(5) = %v, %v", v, ok)
	}
	c.Add(KindTree, id(10), 10, 200)
	if _, ok := c.Get(KindTree, id(5)); !ok {
		t.Error("recently used entry evicted")
	}
	if _, ok := c.Get(KindTree, id(6)); ok {
		t.Error("least recently used entry kept")
	}
	// Same ID, other kind: a different entry.
	if _, ok := c.Get(KindBlob, id(5)); ok {
		t.Error("kinds share entries")
	}
	// Too big for the cache: not cached, nothing evicted.
	c.Add(KindBlob, id(99), "big", 600)
	if _, ok := c.Get(KindBlob, id(99)); ok {
		t.Error("a value over a quarter of the cache was cached")
	}
	c.Remove(KindTree, id(5))
	if _, ok := c.Get(KindTree, id(5)); ok {
		t.Error("Remove left the entry")
	}
	if st := c.Stats(); st.Hits == 0 || st.Misses == 0 || st.MaxBytes != 1000 {
		t.Errorf("counters = %+v", st)
	}
	off := NewCache(0)
	off.Add(KindTree, id(1), 1, 1)
	if _, ok := off.Get(KindTree, id(1)); ok {
		t.Error("a zero-size cache cached")
	}
}
