package plugin

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

// memory keeps what the operator did to a plugin until its status shows it: the next pass may
// read the resource from a cache that has not yet delivered the last status write (or that write
// lost a conflict), and must neither send a refused configuration again nor forget when an
// upgrade's gap started. It is lost with the process; the status then tells what it saved.
type memory struct {
	mu    sync.Mutex
	byUID map[types.UID]*remembered
}

type remembered struct {
	// upgrade is the last version change this process made.
	upgrade *v2beta1.PluginUpgrade
	// rejected is the configuration EMQX refused (configKey) and EMQX's words.
	rejected, rejectedMessage string
}

func (m *memory) get(uid types.UID) *remembered {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byUID == nil {
		m.byUID = map[types.UID]*remembered{}
	}
	r := m.byUID[uid]
	if r == nil {
		r = &remembered{}
		m.byUID[uid] = r
	}
	return r
}

func (m *memory) update(uid types.UID, f func(*remembered)) {
	r := m.get(uid)
	m.mu.Lock()
	defer m.mu.Unlock()
	f(r)
}

// read returns a copy of what is remembered.
func (m *memory) read(uid types.UID) remembered {
	r := m.get(uid)
	m.mu.Lock()
	defer m.mu.Unlock()
	out := *r
	if r.upgrade != nil {
		out.upgrade = r.upgrade.DeepCopy()
	}
	return out
}

func (m *memory) forget(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.byUID, uid)
}

// configKey names one wanted configuration of one generation.
func configKey(pl *v2beta1.EMQXPlugin) string {
	if pl.Spec.Config == nil {
		return ""
	}
	sum := sha256.Sum256(pl.Spec.Config.Raw)
	return fmt.Sprintf("%d/%s", pl.Generation, hex.EncodeToString(sum[:8]))
}
