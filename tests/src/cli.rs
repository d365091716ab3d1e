//! The real `blyand` command line and the app's metrics page, run against a [`Localnet`].

use crate::localnet::{Localnet, KEYRING_PASSWORD};

impl Localnet {
    /// Runs the real `blyand` binary with `args`, this net's keyring and password, and
    /// `BLYAN_NODE` pointing at node 0.
    pub fn cli<I, S>(&self, args: I) -> std::process::Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        std::process::Command::new(&self.bins().blyand)
            .args(args)
            .env("BLYAN_KEYRING_DIR", self.keyring_dir())
            .env("BLYAN_KEYRING_PASSWORD", KEYRING_PASSWORD)
            .env("BLYAN_NODE", &self.node(0).rpc_url)
            .output()
            .expect("running blyand")
    }

    /// Runs the CLI with `--output json` added, asserts it succeeded and parses stdout.
    pub fn cli_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--output", "json"]);
        let out = self.cli(&all);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "blyand {} failed ({}):\nstdout: {stdout}\nstderr: {}",
            all.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "blyand {}: stdout is not JSON ({e}): {stdout}",
                all.join(" ")
            )
        })
    }

    /// Imports dev account `j` into the keyring as `dev<j>`; returns the key name.
    pub fn import_dev_key(&self, j: usize) -> String {
        let name = format!("dev{j}");
        let hex = self.layout().dev_accounts[j].private_key_hex.clone();
        let v = self.cli_json(&["keys", "import", &name, "--private-key", &hex]);
        assert_eq!(
            v["address"].as_str(),
            Some(self.layout().dev_accounts[j].address.to_string().as_str())
        );
        name
    }

    /// The text of node `i`'s app `/metrics` page.
    pub fn app_metrics(&self, i: usize) -> String {
        let url = &self.node(i).metrics_url;
        let resp = ureq::get(url)
            .call()
            .unwrap_or_else(|e| panic!("node{i} GET {url}: {e}"));
        resp.into_string()
            .unwrap_or_else(|e| panic!("node{i} GET {url}: {e}"))
    }
}
