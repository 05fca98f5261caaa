package objstore

import (
	"container/list"
	"sync"
)

// Cache is the L1 tier: decoded trees and hot blob contents, keyed by ID,
// bounded by an estimate of their memory in bytes, evicted least recently
// used first. Values are shared and immutable. Safe for concurrent use.
type Cache struct {
	mu       sync.Mutex
	max, cur int64
	lru      list.List // front = most recent; elements hold *cacheItem
	items    map[cacheKey]*list.Element
	hits     int64
	misses   int64
}

type cacheKey struct {
	kind Kind
	id   ID
}

type cacheItem struct {
	key  cacheKey
	val  any
	cost int64
}

// NewCache returns a cache holding at most maxBytes (0 disables caching).
func NewCache(maxBytes int64) *Cache {
	return &Cache{max: maxBytes, items: map[cacheKey]*list.Element{}}
}

// Get returns the cached value of kind k with ID id.
func (c *Cache) Get(k Kind, id ID) (any, bool) {
	c.mu.Lock()
	e, ok := c.items[cacheKey{k, id}]
	if !ok {
		c.misses++
		c.mu.Unlock()
		return nil, false
	}
	c.hits++
	c.lru.MoveToFront(e)
	v := e.Value.(*cacheItem).val
	c.mu.Unlock()
	return v, true
}

// Add caches v at an estimated cost in bytes. A value larger than a quarter
// of the cache is not cached: it would push out many hot ones.
func (c *Cache) Add(k Kind, id ID, v any, cost int) {
	if int64(cost) > c.max/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	key := cacheKey{k, id}
	if e, ok := c.items[key]; ok {
		c.lru.MoveToFront(e)
		return
	}
	c.items[key] = c.lru.PushFront(&cacheItem{key: key, val: v, cost: int64(cost)})
	c.cur += int64(cost)
	for c.cur > c.max {
		e := c.lru.Back()
		it := e.Value.(*cacheItem)
		c.lru.Remove(e)
		delete(c.items, it.key)
		c.cur -= it.cost
	}
}

// Remove drops one entry (gc calls it for what it deletes).
func (c *Cache) Remove(k Kind, id ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[cacheKey{k, id}]; ok {
		c.cur -= e.Value.(*cacheItem).cost
		c.lru.Remove(e)
		delete(c.items, cacheKey{k, id})
	}
}

// CacheStats are the cache's counters.
type CacheStats struct {
	Entries      int   `json:"entries"`
	Bytes        int64 `json:"bytes"`
	MaxBytes     int64 `json:"max_bytes"`
	Hits, Misses int64
}

// Stats returns the current counters.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{Entries: len(c.items), Bytes: c.cur, MaxBytes: c.max, Hits: c.hits, Misses: c.misses}
}
