package keys

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestFileProviderCreateUnlockRotate(t *testing.T) {
	dir := t.TempDir()
	kek1, kek2 := filepath.Join(dir, "kek1"), filepath.Join(dir, "kek2")
	if err := GenerateKeyFile(kek1); err != nil {
		t.Fatal(err)
	}
	if err := GenerateKeyFile(kek1); err == nil {
		t.Error("GenerateKeyFile overwrote a key")
	}
	GenerateKeyFile(kek2)
	ring := filepath.Join(dir, KeyringFile)
	p1, _ := ParseProvider("file:" + kek1)
	master, err := Create(ring, p1)
	if err != nil || len(master) != KeySize {
		t.Fatalf("Create: %v", err)
	}
	if _, err := Create(ring, p1); err == nil {
		t.Error("Create overwrote a keyring")
	}
	b, _ := os.ReadFile(ring)
	if bytes.Contains(b, []byte(hex.EncodeToString(master))) {
		t.Fatal("keyring holds the master key in the clear")
	}
	got, kr, err := Unlock(ring, nil) // the keyring names its provider
	if err != nil || !bytes.Equal(got, master) || kr.Provider != "file:"+kek1 {
		t.Fatalf("Unlock: %v", err)
	}
	p2, _ := ParseProvider("file:" + kek2)
	if _, _, err := Unlock(ring, p2); !errors.Is(err, ErrWrongKey) {
		t.Errorf("wrong key: %v, want ErrWrongKey", err)
	}
	// Rotate the wrapping: same master, only the new key opens it.
	if _, err := Rotate(ring, nil, p2); err != nil {
		t.Fatal(err)
	}
	if got, _, err := Unlock(ring, nil); err != nil || !bytes.Equal(got, master) {
		t.Fatalf("after rotate: %v", err)
	}
	if _, _, err := Unlock(ring, p1); !errors.Is(err, ErrWrongKey) {
		t.Errorf("old key after rotate: %v", err)
	}
	if _, err := Rotate(ring, p1, p2); !errors.Is(err, ErrWrongKey) {
		t.Errorf("rotate with the wrong old key: %v", err)
	}
	// Derived keys differ from each other and from the master.
	sec := IDSecret(master)
	if len(sec) != 32 || bytes.Equal(sec, master) || Check(master) == hex.EncodeToString(sec[:16]) {
		t.Error("derived keys")
	}
	g, err := ValueAEAD(master)
	if err != nil || g.NonceSize() != 12 || g.Overhead() != 16 {
		t.Errorf("ValueAEAD: %v", err)
	}
}

func TestEnvProviderAndKeyFormats(t *testing.T) {
	dir := t.TempDir()
	ring := filepath.Join(dir, KeyringFile)
	t.Setenv("HELIOS_TEST_KEK", strings.Repeat("ab", 32))
	p, _ := ParseProvider("env:HELIOS_TEST_KEK")
	master, err := Create(ring, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("HELIOS_TEST_KEK", "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=") // base64 of the same
	if got, _, err := Unlock(ring, nil); err != nil || !bytes.Equal(got, master) {
		t.Fatalf("base64 key: %v", err)
	}
	t.Setenv("HELIOS_TEST_KEK", strings.Repeat("cd", 32))
	if _, _, err := Unlock(ring, nil); !errors.Is(err, ErrWrongKey) {
		t.Errorf("other env key: %v", err)
	}
	t.Setenv("HELIOS_TEST_KEK", "short")
	if _, _, err := Unlock(ring, nil); err == nil || errors.Is(err, ErrWrongKey) {
		t.Errorf("malformed env key: %v", err)
	}
	os.Unsetenv("HELIOS_TEST_KEK")
	if _, _, err := Unlock(ring, nil); err == nil || !strings.Contains(err.Error(), "not set") {
		t.Errorf("unset env: %v", err)
	}
	// A raw 32-byte key file, and a world-readable one.
	raw := filepath.Join(dir, "raw")
	os.WriteFile(raw, bytes.Repeat([]byte{1}, 32), 0o600)
	if _, err := Create(filepath.Join(dir, "r2"), mustProvider(t, "file:"+raw)); err != nil {
		t.Errorf("raw key file: %v", err)
	}
	os.Chmod(raw, 0o644)
	if _, err := Create(filepath.Join(dir, "r3"), mustProvider(t, "file:"+raw)); err == nil {
		t.Error("world-readable key file accepted")
	}
	if _, err := Create(filepath.Join(dir, "r4"), mustProvider(t, "file:"+filepath.Join(dir, "none"))); err == nil {
		t.Error("missing key file accepted")
	}
}

func mustProvider(t *testing.T, spec string) Provider {
	p, err := ParseProvider(spec)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseProviderRejects(t *testing.T) {
	for _, s := range []string{"", "file:", "kms:x", "nocolon"} {
		if _, err := ParseProvider(s); err == nil {
			t.Errorf("ParseProvider(%q) succeeded", s)
		}
	}
}

func TestKeyringRejects(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := Unlock(filepath.Join(dir, "none"), nil); !errors.Is(err, ErrNoKeyring) {
		t.Errorf("missing keyring: %v", err)
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte(`{"format":"other"}`), 0o600)
	if _, err := ReadKeyring(bad); err == nil {
		t.Error("foreign keyring accepted")
	}
	os.WriteFile(bad, []byte(`{"format":"helios-keyring/1","provider":"kms:x"}`), 0o600)
	if _, _, err := Unlock(bad, nil); err == nil {
		t.Error("unknown provider accepted")
	}
}

// The command provider, with a real KMS stand-in: openssl and an RSA key.
func TestCommandProviderOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	dir := t.TempDir()
	for _, args := range [][]string{
		{"genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", filepath.Join(dir, "kek.pem")},
		{"pkey", "-in", filepath.Join(dir, "kek.pem"), "-pubout", "-out", filepath.Join(dir, "kek.pub.pem")},
	} {
		if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	script, _ := filepath.Abs("testdata/kek-openssl.sh")
	ring := filepath.Join(dir, KeyringFile)
	p := mustProvider(t, "command:KEK_DIR="+dir+" "+script)
	master, err := Create(ring, p)
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := Unlock(ring, nil); err != nil || !bytes.Equal(got, master) {
		t.Fatalf("Unlock through openssl: %v", err)
	}
	// Another RSA key cannot unwrap: the command fails, clearly.
	other := t.TempDir()
	exec.Command("openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", filepath.Join(other, "kek.pem")).Run()
	if _, _, err := Unlock(ring, mustProvider(t, "command:KEK_DIR="+other+" "+script)); err == nil || !strings.Contains(err.Error(), "unwrap") {
		t.Errorf("other RSA key: %v", err)
	}
	// Rotate from openssl to a key file.
	kek := filepath.Join(dir, "kek")
	GenerateKeyFile(kek)
	if _, err := Rotate(ring, nil, mustProvider(t, "file:"+kek)); err != nil {
		t.Fatal(err)
	}
	if got, _, err := Unlock(ring, nil); err != nil || !bytes.Equal(got, master) {
		t.Fatalf("after rotating to a file: %v", err)
	}
}

func TestCommandProviderMisbehaves(t *testing.T) {
	dir := t.TempDir()
	ring := filepath.Join(dir, KeyringFile)
	if _, err := Create(ring, mustProvider(t, "command:exit 3")); err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("failing command: %v", err)
	}
	if _, err := Create(ring, mustProvider(t, "command:true")); err == nil {
		t.Error("silent wrap accepted")
	}
	// cat "wraps" by copying; an unwrap that returns the wrong bytes is a wrong key.
	if _, err := Create(ring, mustProvider(t, "command:cat; :")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Unlock(ring, mustProvider(t, "command:head -c 32 /dev/zero; :")); !errors.Is(err, ErrWrongKey) {
		t.Errorf("wrong unwrap: %v", err)
	}
	if _, _, err := Unlock(ring, mustProvider(t, "command:echo hi; :")); !errors.Is(err, ErrWrongKey) {
		t.Errorf("short unwrap: %v", err)
	}
	// Rotation to a provider that cannot give the key back is refused.
	if _, err := Rotate(ring, nil, mustProvider(t, "command:echo x; :")); err == nil {
		t.Error("rotated to a broken provider")
	}
}
