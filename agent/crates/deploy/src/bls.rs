//! Boot Loader Specification entries as ostree writes them
//! (`boot/loader.B/entries/ostree-N-OS.conf`), pure parse and format.

/// One BLS entry: `key value` lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootEntry {
    /// Keys in file order; a key may repeat (extra `initrd` lines).
    fields: Vec<(String, String)>,
}

/// ostree writes these first, in this order, then any others.
const ORDER: [&str; 6] = ["title", "version", "options", "devicetree", "linux", "initrd"];

impl BootEntry {
    pub fn parse(text: &str) -> BootEntry {
        let mut fields = Vec::new();
        for line in text.lines() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = match line.split_once([' ', '\t']) {
                Some((k, v)) => (k, v.trim_start()),
                None => (line, ""),
            };
            fields.push((k.to_string(), v.to_string()));
        }
        BootEntry { fields }
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Set `key` (replacing all its values).
    pub fn set(&mut self, key: &str, value: &str) {
        match self.fields.iter().position(|(k, _)| k == key) {
            Some(i) => {
                self.fields[i].1 = value.to_string();
                let mut j = i + 1;
                while j < self.fields.len() {
                    if self.fields[j].0 == key {
                        self.fields.remove(j);
                    } else {
                        j += 1;
                    }
                }
            }
            None => self.fields.push((key.to_string(), value.to_string())),
        }
    }

    /// Bytes as `ostree_bootconfig_parser_write_at` writes them.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for key in ORDER {
            for (k, v) in self.fields.iter().filter(|(k, _)| k == key) {
                out.push_str(&format!("{k} {v}\n"));
            }
        }
        for (k, v) in self.fields.iter().filter(|(k, _)| !ORDER.contains(&k.as_str())) {
            out.push_str(&format!("{k} {v}\n"));
        }
        out
    }
}

/// glibc `strverscmp`, which ostree uses to order entries by `version`.
pub fn strverscmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let (si, sj) = (i, j);
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let (na, nb) = (&a[si..i], &b[sj..j]);
            let fractional = na[0] == b'0' || nb[0] == b'0';
            let ord = if fractional {
                // Leading zeros: compare as fractional parts (glibc semantics).
                na.cmp(nb)
            } else {
                na.len().cmp(&nb.len()).then_with(|| na.cmp(nb))
            };
            if ord != Ordering::Equal {
                return ord;
            }
        } else {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_order_matches_ostree() {
        let mut e = BootEntry::default();
        e.set("linux", "/ostree/os-c/vmlinuz-5.10");
        e.set("options", "root=/dev/vda2 rw");
        e.set("title", "Test OS 1.0 (ostree:0)");
        e.set("initrd", "/ostree/os-c/initramfs-5.10.img");
        e.set("version", "1");
        e.set("fdtdir", "/ostree/os-c/dtb");
        assert_eq!(
            e.to_text(),
            "title Test OS 1.0 (ostree:0)\nversion 1\noptions root=/dev/vda2 rw\nlinux /ostree/os-c/vmlinuz-5.10\ninitrd /ostree/os-c/initramfs-5.10.img\nfdtdir /ostree/os-c/dtb\n"
        );
        assert_eq!(BootEntry::parse(&e.to_text()).to_text(), e.to_text());
    }

    #[test]
    fn version_order() {
        use std::cmp::Ordering::*;
        assert_eq!(strverscmp("2", "10"), Less);
        assert_eq!(strverscmp("10", "9"), Greater);
        assert_eq!(strverscmp("3", "3"), Equal);
    }
}
