//! Property tests over random environments (a xorshift generator, no extra
//! crates): whatever `Env` holds survives a block, and the text form
//! survives whenever `to_text` accepts it.

use uboot_env::{Env, Error};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Bytes biased towards the ones that matter to the formats.
    fn bytes(&mut self, max: usize, forbidden: &[u8]) -> Vec<u8> {
        const SPECIAL: &[u8] = b"=\n\r\\# \t;$\xff\x80.";
        let len = self.below(max + 1);
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let b = if self.below(4) == 0 { SPECIAL[self.below(SPECIAL.len())] } else { self.next() as u8 };
            if b != 0 && !forbidden.contains(&b) {
                out.push(b);
            }
        }
        out
    }

    fn env(&mut self) -> Env {
        let mut env = Env::new();
        for _ in 0..self.below(12) {
            let mut name = self.bytes(12, b"=");
            if name.is_empty() {
                name.push(b'n');
            }
            let value = self.bytes(40, b"");
            env.set(&name, &value).expect("generated entries are valid");
        }
        env
    }
}

#[test]
fn block_round_trip() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    for _ in 0..5_000 {
        let env = rng.env();
        let redundant = rng.below(2) == 1;
        let header = if redundant { 5 } else { 4 };
        let size = header + env.data_len() + rng.below(64);
        let flag = redundant.then(|| rng.next() as u8);
        let pad = rng.next() as u8;
        let block = env.to_block_padded(size, flag, pad).expect("fits");
        assert_eq!(block.len(), size);
        let (back, back_flag) = Env::from_block(&block, redundant).expect("valid");
        assert_eq!(back, env);
        assert_eq!(back_flag, flag);

        // One byte less never fits (the terminator is always written).
        let tight = header + env.data_len();
        assert!(matches!(
            env.to_block(tight - 1, flag),
            Err(Error::TooLarge { needed, size }) if needed == tight && size == tight - 1
        ));

        // Any change to a byte under the CRC is detected.
        let i = 4 + usize::from(redundant) + rng.below(size - header);
        let mut bad = block.clone();
        bad[i] ^= 1 << rng.below(8);
        assert!(matches!(Env::from_block(&bad, redundant), Err(Error::Crc { .. })));
    }
}

#[test]
fn text_round_trip() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..5_000 {
        let env = rng.env();
        match env.to_text() {
            Ok(text) => {
                ok += 1;
                assert_eq!(Env::from_text(&text).expect("own text parses"), env);
            }
            Err(Error::Unrepresentable { .. }) => refused += 1,
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    // The generator must exercise both sides.
    assert!(ok > 1000 && refused > 100, "ok {ok}, refused {refused}");
}
