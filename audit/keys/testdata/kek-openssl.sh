#!/bin/sh
# A command: key provider on openssl: the store's data key is wrapped with
# RSA-OAEP-SHA256 under a key pair. With the private key on a PKCS#11 token
# (softhsm2, a YubiKey, a network HSM), use openssl's pkcs11 provider or
# `pkcs11-tool --decrypt -m RSA-PKCS-OAEP` for unwrap instead: the key
# never leaves the token.
#
#   helios init --encrypt --key-provider 'command:KEK_DIR=/etc/helios/kek /path/kek-openssl.sh'
#
# Protocol: $1 is wrap or unwrap; input on stdin, output on stdout.
set -eu
: "${KEK_DIR:?set KEK_DIR to the directory holding kek.pem and kek.pub.pem}"
case "$1" in
wrap)   exec openssl pkeyutl -encrypt -pubin -inkey "$KEK_DIR/kek.pub.pem" -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 ;;
unwrap) exec openssl pkeyutl -decrypt -inkey "$KEK_DIR/kek.pem" -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 ;;
*)      echo "usage: $0 wrap|unwrap" >&2; exit 2 ;;
esac
