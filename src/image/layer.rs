//! One layer blob as a tar stream: decompressed in process (gzip, zstd, xz; pure-Rust decoders,
//! so an import needs no program from PATH) and hashed on the way for its diff_id.

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::io::{BufRead, Read};

/// How a layer blob is compressed, told by its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    Xz,
    /// Recognized only to refuse it by name: not an OCI layer type.
    Bzip2,
}

impl Compression {
    /// By the first bytes of a blob; None: not compressed (a plain tar).
    pub fn detect(head: &[u8]) -> Option<Compression> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(Compression::Gzip)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compression::Zstd)
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Some(Compression::Xz)
        } else if head.len() >= 4 && head.starts_with(b"BZh") && (b'1'..=b'9').contains(&head[3]) {
            Some(Compression::Bzip2)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
            Compression::Bzip2 => "bzip2",
        }
    }
}

enum Decoder<R: BufRead> {
    Gzip(flate2::bufread::MultiGzDecoder<R>),
    Zstd(Box<Zstd<R>>),
    Xz(Box<lzma_rust2::XzReader<R>>),
}

/// A decompressed layer. A decoder error is kept (typed) and every later read fails, so the
/// caller can tell a damaged stream from a damaged tar inside it with [`LayerReader::failure`].
pub struct LayerReader<R: BufRead> {
    dec: Decoder<R>,
    kind: Compression,
    hash: Option<Sha256>,
    failed: Option<std::io::Error>,
}

/// The most memory an xz block's decoder may ask for (KiB): a hostile header could ask for a
/// dictionary of gigabytes. 128 MiB, as zstd's window cap; `xz -9` needs 65 MiB.
const XZ_MEM_LIMIT_KIB: u32 = 128 << 10;

impl<R: BufRead> LayerReader<R> {
    /// `media_type`: the descriptor's, when the image has one (for the bzip2 refusal).
    pub fn new(inner: R, kind: Compression, hash: bool, media_type: Option<&str>) -> Result<Self> {
        let dec = match kind {
            Compression::Gzip => Decoder::Gzip(flate2::bufread::MultiGzDecoder::new(inner)),
            Compression::Zstd => Decoder::Zstd(Box::new(Zstd::new(inner))),
            Compression::Xz => Decoder::Xz(Box::new(lzma_rust2::XzReader::new_mem_limit(
                inner,
                true,
                XZ_MEM_LIMIT_KIB,
            ))),
            Compression::Bzip2 => {
                return Err(Error::failed(format!(
                    "the layer is bzip2-compressed ({}), which is not an OCI layer type: recompress it with gzip, zstd or xz",
                    media_type.filter(|m| !m.is_empty()).unwrap_or("no media type")
                )))
            }
        };
        Ok(LayerReader {
            dec,
            kind,
            hash: hash.then(Sha256::new),
            failed: None,
        })
    }

    /// Why decompression failed, if it did: "the gzip stream is damaged: …".
    pub fn failure(&self) -> Option<Error> {
        self.failed.as_ref().map(|e| {
            Error::failed(format!(
                "the {} stream is damaged or cut short: {e}",
                self.kind.name()
            ))
        })
    }

    /// The sha256 hex of everything decompressed, if one was wanted.
    pub fn finish_hex(self) -> Option<String> {
        self.hash.map(|h| super::hex(&h.finalize()))
    }
}

impl<R: BufRead> Read for LayerReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.failed.is_some() {
            return Err(std::io::Error::other("decompression failed"));
        }
        let r = match &mut self.dec {
            Decoder::Gzip(d) => d.read(buf),
            Decoder::Zstd(d) => d.read(buf),
            Decoder::Xz(d) => d.read(buf),
        };
        match r {
            Ok(n) => {
                if let Some(h) = &mut self.hash {
                    h.update(&buf[..n]);
                }
                Ok(n)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                self.failed = Some(e);
                Err(std::io::Error::other("decompression failed"))
            }
        }
    }
}

impl<R: BufRead> super::tar::Input for LayerReader<R> {}

/// A zstd stream of any number of frames, skippable ones (zstd:chunked's metadata) skipped, each
/// frame's content checksum checked when it has one.
struct Zstd<R: BufRead> {
    src: R,
    dec: ruzstd::decoding::FrameDecoder,
    in_frame: bool,
}

impl<R: BufRead> Zstd<R> {
    fn new(src: R) -> Self {
        Zstd {
            src,
            dec: ruzstd::decoding::FrameDecoder::new(),
            in_frame: false,
        }
    }
}

impl<R: BufRead> Read for Zstd<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.in_frame {
                if self.src.fill_buf()?.is_empty() {
                    return Ok(0);
                }
                match self.dec.reset(&mut self.src) {
                    Ok(()) => self.in_frame = true,
                    Err(FrameDecoderError::ReadFrameHeaderError(
                        ReadFrameHeaderError::SkipFrame { length, .. },
                    )) => {
                        let want = u64::from(length);
                        let got =
                            std::io::copy(&mut (&mut self.src).take(want), &mut std::io::sink())?;
                        if got != want {
                            return Err(std::io::ErrorKind::UnexpectedEof.into());
                        }
                    }
                    Err(e) => return Err(std::io::Error::other(e)),
                }
                continue;
            }
            if self.dec.can_collect() > 0 {
                return self.dec.read(buf);
            }
            if !self.dec.is_finished() {
                self.dec
                    .decode_blocks(
                        &mut self.src,
                        ruzstd::decoding::BlockDecodingStrategy::UptoBlocks(1),
                    )
                    .map_err(std::io::Error::other)?;
                continue;
            }
            if let (Some(want), Some(got)) = (
                self.dec.get_checksum_from_data(),
                self.dec.get_calculated_checksum(),
            ) {
                if want != got {
                    return Err(std::io::Error::other(format!(
                        "content checksum mismatch ({got:08x}, the frame says {want:08x})"
                    )));
                }
            }
            self.in_frame = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes() {
        assert_eq!(
            Compression::detect(&[0x1f, 0x8b, 8]),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd, 0]),
            Some(Compression::Zstd)
        );
        assert_eq!(Compression::detect(b"\xfd7zXZ\0\0"), Some(Compression::Xz));
        assert_eq!(Compression::detect(b"BZh91AY&SY"), Some(Compression::Bzip2));
        // A tar whose first name happens to start with "BZh" is still a tar.
        assert_eq!(Compression::detect(b"BZh.txt\0"), None);
        assert_eq!(Compression::detect(b"ustar"), None);
        assert_eq!(Compression::detect(b""), None);
    }

    /// Two gzip members, then a damaged one: the data of both, then a typed failure.
    #[test]
    fn gzip_members_and_damage() {
        use flate2::{write::GzEncoder, Compression as Level};
        use std::io::Write;
        let member = |d: &[u8]| {
            let mut e = GzEncoder::new(vec![], Level::fast());
            e.write_all(d).unwrap();
            e.finish().unwrap()
        };
        let mut z = member(b"hello ");
        z.extend(member(b"world"));
        let mut r = LayerReader::new(z.as_slice(), Compression::Gzip, true, None).unwrap();
        let mut out = vec![];
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"hello world");
        assert!(r.failure().is_none());
        assert_eq!(
            r.finish_hex().unwrap(),
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        let mut bad = member(&[7u8; 4000]);
        let n = bad.len();
        bad[n / 2] ^= 0xff;
        bad[n - 6] ^= 0xff;
        let mut r = LayerReader::new(bad.as_slice(), Compression::Gzip, false, None).unwrap();
        assert!(r.read_to_end(&mut vec![]).is_err());
        let e = r.failure().expect("a decoder failure").to_string();
        assert!(e.starts_with("the gzip stream is damaged"), "{e}");
    }

    /// A 64-byte xz stream ("hello", made with `xz --lzma2=dict=256MiB`) whose decoder would
    /// need 257 MiB: refused before anything that large is allocated.
    #[test]
    fn an_xz_dictionary_over_the_limit_is_refused() {
        const BIG_DICT: [u8; 64] = [
            0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x0, 0x0, 0x4, 0xe6, 0xd6, 0xb4, 0x46, 0x2, 0x0, 0x21,
            0x1, 0x20, 0x0, 0x0, 0x0, 0x9, 0x88, 0xa5, 0x76, 0x1, 0x0, 0x4, 0x68, 0x65, 0x6c, 0x6c,
            0x6f, 0x0, 0x0, 0x0, 0x0, 0xb1, 0x37, 0xb9, 0xdb, 0xe5, 0xda, 0x1e, 0x9b, 0x0, 0x1,
            0x1d, 0x5, 0xb8, 0x2d, 0x80, 0xaf, 0x1f, 0xb6, 0xf3, 0x7d, 0x1, 0x0, 0x0, 0x0, 0x0,
            0x4, 0x59, 0x5a,
        ];
        let mut r = LayerReader::new(
            std::io::Cursor::new(&BIG_DICT[..]),
            Compression::Xz,
            false,
            None,
        )
        .unwrap();
        let mut out = vec![];
        assert!(std::io::Read::read_to_end(&mut r, &mut out).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn bzip2_is_refused_by_media_type() {
        let e = LayerReader::new(
            &b"BZh9"[..],
            Compression::Bzip2,
            false,
            Some("application/vnd.oci.image.layer.v1.tar+bzip2"),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("bzip2") && e.contains("tar+bzip2"), "{e}");
    }
}
