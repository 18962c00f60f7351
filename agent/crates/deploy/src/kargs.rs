//! Kernel arguments with ostree's semantics (`ostree_kernel_args_*`):
//! order is kept; `replace` swaps every value of a key for one, at the
//! key's first position (or appends); `append` always appends.

/// An ordered list of kernel arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kargs(Vec<String>);

fn key(arg: &str) -> &str {
    arg.split_once('=').map_or(arg, |(k, _)| k)
}

impl Kargs {
    pub fn parse(s: &str) -> Kargs {
        Kargs(s.split_ascii_whitespace().map(str::to_string).collect())
    }

    pub fn replace(&mut self, arg: &str) {
        let k = key(arg);
        match self.0.iter().position(|a| key(a) == k) {
            Some(first) => {
                self.0[first] = arg.to_string();
                let mut i = first + 1;
                while i < self.0.len() {
                    if key(&self.0[i]) == k {
                        self.0.remove(i);
                    } else {
                        i += 1;
                    }
                }
            }
            None => self.0.push(arg.to_string()),
        }
    }

    pub fn append(&mut self, arg: &str) {
        self.0.push(arg.to_string());
    }

    /// Append `arg` unless an argument with its key is there already
    /// (`ostree_kernel_args_append_if_missing`).
    pub fn append_if_missing(&mut self, arg: &str) {
        let k = key(arg);
        if !self.0.iter().any(|a| key(a) == k) {
            self.append(arg);
        }
    }

    /// Remove every argument with this key (`KEY`) or exactly this `KEY=VALUE`.
    pub fn delete(&mut self, arg: &str) {
        if arg.contains('=') {
            self.0.retain(|a| a != arg);
        } else {
            self.0.retain(|a| key(a) != arg);
        }
    }

    pub fn get_last(&self, k: &str) -> Option<&str> {
        self.0.iter().rev().find(|a| key(a) == k).map(|a| a.split_once('=').map_or("", |(_, v)| v))
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for Kargs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ostree_semantics() {
        let mut k = Kargs::parse("root=/dev/vda2 console=ttyS0 rw console=tty0 ostree=/ostree/boot.0/os/c/0");
        k.replace("console=ttyAMA0");
        assert_eq!(k.to_string(), "root=/dev/vda2 console=ttyAMA0 rw ostree=/ostree/boot.0/os/c/0");
        k.replace("ostree=/ostree/boot.1/os/c/0");
        assert_eq!(k.to_string(), "root=/dev/vda2 console=ttyAMA0 rw ostree=/ostree/boot.1/os/c/0");
        k.append("quiet");
        k.replace("panic=-1");
        assert_eq!(k.to_string(), "root=/dev/vda2 console=ttyAMA0 rw ostree=/ostree/boot.1/os/c/0 quiet panic=-1");
        k.delete("quiet");
        assert_eq!(k.get_last("ostree"), Some("/ostree/boot.1/os/c/0"));
        assert!(!k.to_string().contains("quiet"));
        k.append_if_missing("rw");
        k.append_if_missing("root=/dev/sda1");
        k.append_if_missing("quiet");
        assert_eq!(k.to_string(), "root=/dev/vda2 console=ttyAMA0 rw ostree=/ostree/boot.1/os/c/0 panic=-1 quiet");
    }
}
