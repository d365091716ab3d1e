//! A keystore made by Ethereum tooling imports and shows the same address.

use blyan_client::Keyring;
use blyan_proto::SecretKey;

#[test]
fn the_web3_secret_storage_test_vector_imports_with_its_address() {
    // The PBKDF2 test vector of the Web3 Secret Storage Definition (password
    // "testpassword", private key 7a28b5ba…14fe9d).
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/web3-test-vector-pbkdf2.json");
    let dir = tempfile::tempdir().unwrap();
    let ring = Keyring::open(dir.path()).unwrap();
    let addr = ring
        .import_keystore("vector", &file, "testpassword")
        .unwrap();
    let expected =
        SecretKey::from_hex("7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d")
            .unwrap();
    assert_eq!(addr, expected.address());
    assert_eq!(ring.address("vector").unwrap(), addr);
    assert!(ring
        .import_keystore("wrong", &file, "not-the-password")
        .is_err());
}
