//! Entry points for fuzzing (feature `fuzzing`, which only adds this
//! module), shared by the libFuzzer target `dataset` in `fuzz/` and the
//! corpus replay of the normal test suite (`tests/tests/fuzz_dataset_corpus.rs`).
//!
//! The target feeds the dataset-file decoders of [`crate::io`] the bytes
//! the path-taking loaders would read, through the same functions
//! ([`load_csv`](crate::load_csv) and the others only add the reading).
//!
//! # Input
//!
//! Byte 0 selects the format (`% 4`), byte 1 holds flags, the rest is the
//! file, or several files separated by [`SEP`]:
//!
//! | byte 0 % 4 | files | reader |
//! |---|---|---|
//! | 0 | an IDX labels file | `read_idx(path, 1)` |
//! | 1 | an IDX images file [`SEP` an IDX labels file] | `read_idx(path, 3)`, then with labels the image/label pairing of `load_mnist_dir` |
//! | 2 | a CSV file | `load_csv` |
//! | 3 | `x.npy` `SEP` `y.npy` [`SEP` `is_test.npy`] | `load_npy` (one part: only decoded) |
//!
//! Flags (byte 1): bit 0 gzip-compresses the first file before the reader
//! sees it, bit 1 the second (IDX and CSV only: the formats whose loaders
//! accept `.gz`), bit 2 makes that gzip file two members (RFC 1952 allows
//! several; `cat a.gz b.gz` writes such files); bit 3 names the CSV label
//! column by the index `byte 1 >> 4` instead of `label`. A file that is
//! itself gzip (magic `1f 8b`) is gunzipped by the reader as from disk.
//!
//! # Invariants (asserted: a violation is a crash)
//!
//! - No input panics; every error is an [`Error::Format`] naming one of the
//!   input files (never a caller's error such as [`Error::Shape`]).
//! - gzip: what the reader gunzips from a wrapped file is exactly the file.
//! - IDX: an accepted file has the requested number of dimensions, a payload
//!   of their product, and re-encodes (magic, sizes, payload) to exactly its
//!   (decompressed) bytes.
//! - Every accepted dataset is well formed: at least one example and one
//!   feature (so the feature count is bounded by the bytes present, not by a
//!   header: models are sized by it), train and test sizes add up to the
//!   file's examples, both splits have the same feature count and label
//!   space `1..=MAX_CLASSES`, each split as many label as feature rows,
//!   every label below the label space, every feature finite (as `f32`, as
//!   stored), and for CSV and `.npy` a label space of `0..=max label`.
//! - Values: an accepted IDX pair holds the pixels / 255 and the label
//!   bytes; an accepted CSV equals the dataset built from an independent,
//!   straightforward parse of its cells; every decoded `.npy` array equals
//!   an independent decoding of the payload at the end of the file (C or
//!   Fortran order), and an accepted `.npy` dataset equals the one built from
//!   those arrays. (The split itself is recomputed with [`Dataset::from_mask`]
//!   / [`Dataset::random_split`], which are not under test here.)

use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use ndarray::Array2;

use crate::data::{Dataset, MAX_CLASSES, Samples};
use crate::error::Error;
use crate::io::{
    DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION, Idx, Npy, csv_dataset, decode_idx, decode_npy,
    idx_samples, maybe_gunzip, npy_dataset,
};

/// The fuzz targets of this crate.
pub const TARGETS: &[&str] = &["dataset"];

/// Separates the files of a multi-file input.
pub const SEP: &[u8] = b"|NEXT|";

/// The formats byte 0 selects, in order.
pub const FORMATS: &[&str] = &["idx-labels", "idx-images", "csv", "npy"];

const LABELS: &str = "labels-idx1-ubyte";
const IMAGES: &str = "images-idx3-ubyte";
const CSV: &str = "data.csv";
const X: &str = "x.npy";
const Y: &str = "y.npy";
const MASK: &str = "is_test.npy";

/// Runs target `name` on `data`; `false` if there is no such target.
#[must_use]
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "dataset" => {
            let _ = dataset(data);
            true
        }
        _ => false,
    }
}

/// What the `dataset` target's reader accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// One of [`FORMATS`].
    pub format: &'static str,
    /// Whether the first file reached the reader gzip-compressed.
    pub gzip: bool,
    /// How many files the accepted reader combined (1; 2 for an IDX
    /// images/labels pair; 2 or 3 for `.npy`).
    pub files: usize,
}

/// The `dataset` target: runs `data` through its reader, asserting the
/// invariants of the module documentation, and says what was accepted
/// (`None` if the reader refused it, or the input selects nothing).
#[must_use]
pub fn accepted(data: &[u8]) -> Option<Accepted> {
    dataset(data)
}

fn dataset(data: &[u8]) -> Option<Accepted> {
    let (&mode, rest) = data.split_first()?;
    let (&flags, rest) = rest.split_first()?;
    let flag = |bit: u8| flags & (1 << bit) != 0;
    let two_members = flag(2);
    match mode % 4 {
        0 => {
            let path = Path::new(LABELS);
            let (content, gzip) = file(rest, flag(0), two_members, path)?;
            idx_ok(decode_idx(&content, path, 1), &content, 1, &[path])?;
            Some(Accepted {
                format: FORMATS[0],
                gzip,
                files: 1,
            })
        }
        1 => {
            let mut parts = split(rest, 2).into_iter();
            let img_path = Path::new(IMAGES);
            let lbl_path = Path::new(LABELS);
            let (img_bytes, gzip) = file(parts.next()?, flag(0), two_members, img_path)?;
            let img = idx_ok(
                decode_idx(&img_bytes, img_path, 3),
                &img_bytes,
                3,
                &[img_path],
            )?;
            let Some(lbl_file) = parts.next() else {
                return Some(Accepted {
                    format: FORMATS[1],
                    gzip,
                    files: 1,
                });
            };
            let (lbl_bytes, _) = file(lbl_file, flag(1), two_members, lbl_path)?;
            let lbl = idx_ok(
                decode_idx(&lbl_bytes, lbl_path, 1),
                &lbl_bytes,
                1,
                &[lbl_path],
            )?;
            let samples = ok(
                idx_samples(&img, img_path, &lbl, lbl_path, 10),
                &[img_path, lbl_path],
            )?;
            check_idx_samples(&samples, &img, &lbl);
            Some(Accepted {
                format: FORMATS[1],
                gzip,
                files: 2,
            })
        }
        2 => {
            let path = Path::new(CSV);
            let (content, gzip) = file(rest, flag(0), two_members, path)?;
            let label_col = if flag(3) {
                (flags >> 4).to_string()
            } else {
                "label".to_owned()
            };
            let ds = ok(csv_dataset(&content, path, &label_col), &[path])?;
            check_csv(&ds, &content, &label_col);
            Some(Accepted {
                format: FORMATS[2],
                gzip,
                files: 1,
            })
        }
        _ => {
            let parts = split(rest, 3);
            let paths = [Path::new(X), Path::new(Y), Path::new(MASK)];
            let arrays: Vec<_> = parts
                .iter()
                .zip(paths)
                .map(|(part, path)| {
                    let a = ok(decode_npy(part, path), &[path]);
                    if let Some(a) = &a {
                        check_npy_array(a, part);
                    }
                    a
                })
                .collect();
            let [Some(x), Some(y), more @ ..] = &arrays[..] else {
                return None;
            };
            let mask_file = parts.get(2).copied();
            let ds = ok(
                npy_dataset(x, paths[0], y, paths[1], mask_file.map(|_| paths[2]), |p| {
                    decode_npy(mask_file.unwrap_or_default(), p)
                }),
                &paths,
            )?;
            check_npy_dataset(&ds, x, y, more.first().and_then(Option::as_ref));
            Some(Accepted {
                format: FORMATS[3],
                gzip: false,
                files: arrays.len(),
            })
        }
    }
}

/// At most `n` parts of `rest`, split at [`SEP`] (the last part keeps any
/// further separators).
fn split(rest: &[u8], n: usize) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = rest;
    while parts.len() + 1 < n {
        let Some(at) = rest.windows(SEP.len()).position(|w| w == SEP) else {
            break;
        };
        parts.push(&rest[..at]);
        rest = &rest[at + SEP.len()..];
    }
    parts.push(rest);
    parts
}

/// The content a loader reads from a file of bytes `raw`, gzip-compressed
/// first if `wrap` (in two members if `two_members`), and whether the
/// reader saw gzip. `None` if the reader refused it (checked to be a format
/// error naming `path`).
fn file(raw: &[u8], wrap: bool, two_members: bool, path: &Path) -> Option<(Vec<u8>, bool)> {
    if wrap {
        let gz = gzip(raw, two_members);
        let content = maybe_gunzip(gz, path);
        assert!(
            content.as_deref().ok() == Some(raw),
            "gunzip(gzip(file)) is not the file: {:?}",
            content.map(|c| c.len())
        );
        Some((raw.to_vec(), true))
    } else {
        let gzip = raw.starts_with(&[0x1f, 0x8b]);
        ok(maybe_gunzip(raw.to_vec(), path), &[path]).map(|c| (c, gzip))
    }
}

/// `data` gzip-compressed, as one member or two (split in the middle).
fn gzip(data: &[u8], two_members: bool) -> Vec<u8> {
    let cut = if two_members {
        data.len() / 2
    } else {
        data.len()
    };
    let mut out = Vec::new();
    for part in [&data[..cut], &data[cut..]] {
        if part.is_empty() && !out.is_empty() {
            continue;
        }
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(part).expect("gzip to memory");
        out.extend(enc.finish().expect("gzip to memory"));
        if !two_members {
            break;
        }
    }
    out
}

/// The value, or `None` after checking that the error is the input's fault.
fn ok<T>(r: crate::Result<T>, paths: &[&Path]) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            check_error(&e, paths);
            None
        }
    }
}

/// A reader's error is a format error naming one of its files.
fn check_error(e: &Error, paths: &[&Path]) {
    match e {
        Error::Format { path, .. } => assert!(
            paths.contains(&path.as_path()),
            "error names {} instead of one of {paths:?}: {e}",
            path.display()
        ),
        _ => panic!("a bad file gave an error that is not a format error: {e:?}"),
    }
}

/// An accepted IDX file has `ndims` dimensions, their product in bytes,
/// and re-encodes to exactly its bytes.
fn idx_ok(r: crate::Result<Idx>, bytes: &[u8], ndims: u8, paths: &[&Path]) -> Option<Idx> {
    let idx = ok(r, paths)?;
    assert_eq!(idx.dims.len(), usize::from(ndims), "IDX dimensions");
    assert_eq!(
        Some(idx.data.len()),
        idx.dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)),
        "IDX payload is not the product of its dimensions {:?}",
        idx.dims
    );
    let mut enc = vec![0, 0, 8, ndims];
    for &d in &idx.dims {
        let d = u32::try_from(d).expect("an IDX dimension is a u32");
        enc.extend_from_slice(&d.to_be_bytes());
    }
    enc.extend_from_slice(&idx.data);
    assert!(enc == bytes, "accepted IDX does not re-encode to its bytes");
    Some(idx)
}

/// Checks what every accepted set of examples promises.
fn check_samples(s: &Samples) {
    assert_eq!(s.x().nrows(), s.len(), "rows of x vs labels");
    assert_eq!(s.y().len(), s.len());
    assert!(
        (1..=MAX_CLASSES).contains(&s.n_classes()),
        "n_classes {}",
        s.n_classes()
    );
    assert!(
        s.y().iter().all(|&l| l < s.n_classes()),
        "a label is not below n_classes"
    );
    assert!(
        s.x().iter().all(|v| v.is_finite()),
        "an accepted feature is not finite as f32"
    );
}

/// Checks what every accepted dataset of `rows` examples promises.
fn check_dataset(ds: &Dataset, rows: usize) {
    check_samples(&ds.train);
    check_samples(&ds.test);
    assert!(rows >= 1, "accepted a dataset without examples");
    assert!(ds.n_features() >= 1, "accepted a dataset without features");
    assert_eq!(ds.train.len() + ds.test.len(), rows, "train + test sizes");
    assert_eq!(ds.train.n_features(), ds.test.n_features());
    assert_eq!(ds.train.n_classes(), ds.test.n_classes());
    let max = ds.train.y().iter().chain(ds.test.y()).max().copied();
    assert_eq!(
        ds.n_classes(),
        max.map_or(1, |m| m + 1),
        "label space is not 0..=max label"
    );
}

fn check_idx_samples(s: &Samples, img: &Idx, lbl: &Idx) {
    check_samples(s);
    assert!(!s.is_empty(), "accepted an IDX pair without examples");
    assert!(s.n_features() >= 1, "accepted IDX images without pixels");
    assert_eq!(s.n_classes(), 10);
    let n = img.dims.first().copied().unwrap_or(0);
    let d = img.dims.iter().skip(1).product::<usize>();
    let x = Array2::from_shape_vec(
        (n, d),
        img.data.iter().map(|&p| f32::from(p) / 255.0).collect(),
    )
    .expect("accepted images have n × h × w pixels");
    let y = lbl.data.iter().map(|&l| usize::from(l)).collect();
    let want = Samples::new(x, y, 10).expect("accepted labels are below 10");
    assert!(*s == want, "IDX pair is not pixels / 255 and label bytes");
}

/// The dataset of `rows` (features, label) with an optional test mask, as
/// the readers build it.
fn reference(
    name: &str,
    feats: Vec<f32>,
    n_features: usize,
    y: Vec<usize>,
    mask: Option<&[bool]>,
) -> Dataset {
    let rows = y.len();
    let x = Array2::from_shape_vec((rows, n_features), feats).expect("reference shape");
    let n_classes = y.iter().max().map_or(1, |m| m + 1);
    let all = Samples::new(x, y, n_classes).expect("reference samples");
    match mask {
        Some(m) => Dataset::from_mask(name, &all, m),
        None => Dataset::random_split(name, &all, DEFAULT_TEST_FRACTION, DEFAULT_SPLIT_SEED),
    }
    .expect("reference split")
}

/// A label as the readers promise it: an integer in `0..MAX_CLASSES`.
fn label(v: f64) -> usize {
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "checked by the round trip below"
    )]
    let l = v as usize;
    #[expect(clippy::cast_precision_loss, reason = "below MAX_CLASSES")]
    let back = l as f64;
    assert!(
        l < MAX_CLASSES && back == v,
        "accepted label {v} is not an integer in 0..{MAX_CLASSES}"
    );
    l
}

/// A 0/1 split value.
fn mask_value(v: f64) -> bool {
    assert!(v == 0.0 || v == 1.0, "accepted split value {v}");
    v == 1.0
}

/// An accepted CSV is the dataset an independent parse of its cells gives.
fn check_csv(ds: &Dataset, content: &[u8], label_col: &str) {
    let text = std::str::from_utf8(content).expect("accepted CSV is UTF-8");
    let mut table = text
        .split('\n')
        .map(|line| line.split(',').map(str::trim).collect::<Vec<_>>())
        .filter(|cells| cells.len() > 1 || cells.first().is_some_and(|c| !c.is_empty()));
    let header = table.next().expect("accepted CSV has a header");
    let label_at = header
        .iter()
        .position(|h| *h == label_col)
        .or_else(|| label_col.parse::<usize>().ok())
        .expect("accepted CSV has its label column");
    // The first `is_test` column, unless it is the label column.
    let split_at = header
        .iter()
        .position(|h| *h == "is_test")
        .filter(|&i| i != label_at);
    let feature_cols: Vec<usize> = (0..header.len())
        .filter(|&i| i != label_at && Some(i) != split_at)
        .collect();
    let (mut feats, mut y, mut mask) = (Vec::new(), Vec::new(), Vec::new());
    for row in table {
        assert_eq!(row.len(), header.len(), "accepted a ragged CSV row");
        let num = |i: usize| -> f64 {
            let v: f64 = row[i].parse().expect("accepted CSV cell is a number");
            assert!(v.is_finite(), "accepted CSV cell {v}");
            v
        };
        #[expect(
            clippy::cast_possible_truncation,
            reason = "features are stored as f32"
        )]
        feats.extend(feature_cols.iter().map(|&i| num(i) as f32));
        y.push(label(num(label_at)));
        if let Some(s) = split_at {
            mask.push(mask_value(num(s)));
        }
    }
    check_dataset(ds, y.len());
    let name = Path::new(CSV)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("");
    let want = reference(
        name,
        feats,
        feature_cols.len(),
        y,
        split_at.map(|_| &mask[..]),
    );
    assert!(*ds == want, "accepted CSV differs from its cells");
}

/// Decodes one element (its bytes, big-endian?) to f64.
type Element = fn(&[u8], bool) -> f64;

/// Element size and decoder of a `.npy` dtype.
fn npy_element(kind: &str) -> (usize, Element) {
    macro_rules! dec {
        ($t:ty, $n:expr) => {
            ($n, |c: &[u8], big: bool| {
                let a: [u8; $n] = c.try_into().expect("element size");
                let v = if big {
                    <$t>::from_be_bytes(a)
                } else {
                    <$t>::from_le_bytes(a)
                };
                // (`allow`, not `expect`: which cast lint fires depends on `$t`.)
                #[allow(
                    clippy::cast_precision_loss,
                    clippy::cast_lossless,
                    clippy::unnecessary_cast
                )]
                let v = v as f64;
                v
            })
        };
    }
    match kind {
        "f4" => dec!(f32, 4),
        "f8" => dec!(f64, 8),
        "i1" => dec!(i8, 1),
        "i2" => dec!(i16, 2),
        "i4" => dec!(i32, 4),
        "i8" => dec!(i64, 8),
        "u1" | "b1" => dec!(u8, 1),
        "u2" => dec!(u16, 2),
        "u4" => dec!(u32, 4),
        "u8" => dec!(u64, 8),
        other => panic!("accepted .npy dtype '{other}'"),
    }
}

/// An accepted `.npy` array is what the payload at the end of the file
/// holds, decoded element by element, C order or (2-D) transposed from
/// Fortran order.
fn check_npy_array(a: &Npy, bytes: &[u8]) {
    let n = a.shape.iter().try_fold(1usize, |p, &d| p.checked_mul(d));
    assert_eq!(n, Some(a.data.len()), "elements vs shape {:?}", a.shape);
    // Format: magic, version (1: u16 header length at 8; 2, 3: u32), header.
    let (len_at, start) = if bytes[6] == 1 { (8, 10) } else { (8, 12) };
    let len = bytes[len_at..start]
        .iter()
        .rev()
        .fold(0usize, |a, &b| a << 8 | usize::from(b));
    let header = std::str::from_utf8(&bytes[start..start + len]).expect("accepted .npy header");
    let after = |key: &str| -> &str {
        let at = header.find(key).expect("accepted .npy header has its keys");
        header[at + key.len()..].trim_start()
    };
    let descr = after("'descr':")
        .strip_prefix('\'')
        .and_then(|d| d.split('\'').next())
        .expect("accepted .npy has a descr");
    let big = descr.starts_with('>');
    let (size, dec) = npy_element(
        descr
            .get(1..)
            .expect("accepted descr starts with its byte order"),
    );
    let fortran = after("'fortran_order':").starts_with("True");
    let payload = &bytes[bytes.len() - a.data.len() * size..];
    let elems: Vec<f64> = payload.chunks_exact(size).map(|c| dec(c, big)).collect();
    let want: Vec<f64> = match a.shape[..] {
        [r, c] if fortran => (0..r * c).map(|k| elems[(k % c) * r + k / c]).collect(),
        _ if fortran && a.shape.len() > 2 => return, // decoded as stored; unused
        _ => elems,
    };
    assert!(
        want.iter()
            .map(|v| v.to_bits())
            .eq(a.data.iter().map(|v| v.to_bits())),
        "decoded .npy values differ from the payload's"
    );
}

/// An accepted `.npy` dataset is the one its (checked) arrays give.
fn check_npy_dataset(ds: &Dataset, x: &Npy, y: &Npy, mask: Option<&Npy>) {
    let [rows, d] = x.shape[..] else {
        panic!("accepted x of shape {:?}", x.shape)
    };
    assert_eq!(y.shape, [rows], "accepted labels of shape {:?}", y.shape);
    check_dataset(ds, rows);
    let y = y.data.iter().map(|&v| label(v)).collect();
    let mask: Option<Vec<bool>> = mask.map(|m| {
        assert_eq!(m.shape, [rows], "accepted mask of shape {:?}", m.shape);
        m.data.iter().map(|&v| mask_value(v)).collect()
    });
    #[expect(
        clippy::cast_possible_truncation,
        reason = "features are stored as f32"
    )]
    let feats = x.data.iter().map(|&v| v as f32).collect();
    let want = reference("x", feats, d, y, mask.as_deref());
    assert!(*ds == want, "accepted .npy dataset differs from its arrays");
}

// ---------------------------------------------------------------- seeds

/// The first six examples of the UCI optical digits (8×8, 0..16; labels
/// 0..5), as in `/work/shared/data/digits.csv` (scikit-learn 1.9.1, UCI,
/// CC BY 4.0).
const DIGITS: [[u8; 64]; 6] = [
    [
        0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0, 0, 4, 12, 0,
        0, 8, 8, 0, 0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0, 0, 2, 14, 5, 10, 12, 0, 0, 0,
        0, 6, 13, 10, 0, 0, 0,
    ],
    [
        0, 0, 0, 12, 13, 5, 0, 0, 0, 0, 0, 11, 16, 9, 0, 0, 0, 0, 3, 15, 16, 6, 0, 0, 0, 7, 15, 16,
        16, 2, 0, 0, 0, 0, 1, 16, 16, 3, 0, 0, 0, 0, 1, 16, 16, 6, 0, 0, 0, 0, 1, 16, 16, 6, 0, 0,
        0, 0, 0, 11, 16, 10, 0, 0,
    ],
    [
        0, 0, 0, 4, 15, 12, 0, 0, 0, 0, 3, 16, 15, 14, 0, 0, 0, 0, 8, 13, 8, 16, 0, 0, 0, 0, 1, 6,
        15, 11, 0, 0, 0, 1, 8, 13, 15, 1, 0, 0, 0, 9, 16, 16, 5, 0, 0, 0, 0, 3, 13, 16, 16, 11, 5,
        0, 0, 0, 0, 3, 11, 16, 9, 0,
    ],
    [
        0, 0, 7, 15, 13, 1, 0, 0, 0, 8, 13, 6, 15, 4, 0, 0, 0, 2, 1, 13, 13, 0, 0, 0, 0, 0, 2, 15,
        11, 1, 0, 0, 0, 0, 0, 1, 12, 12, 1, 0, 0, 0, 0, 0, 1, 10, 8, 0, 0, 0, 8, 4, 5, 14, 9, 0, 0,
        0, 7, 13, 13, 9, 0, 0,
    ],
    [
        0, 0, 0, 1, 11, 0, 0, 0, 0, 0, 0, 7, 8, 0, 0, 0, 0, 0, 1, 13, 6, 2, 2, 0, 0, 0, 7, 15, 0,
        9, 8, 0, 0, 5, 16, 10, 0, 16, 6, 0, 0, 4, 15, 16, 13, 16, 1, 0, 0, 0, 0, 3, 15, 10, 0, 0,
        0, 0, 0, 2, 16, 4, 0, 0,
    ],
    [
        0, 0, 12, 10, 0, 0, 0, 0, 0, 0, 14, 16, 16, 14, 0, 0, 0, 0, 13, 16, 15, 10, 1, 0, 0, 0, 11,
        16, 16, 7, 0, 0, 0, 0, 0, 4, 7, 16, 7, 0, 0, 0, 0, 0, 4, 16, 9, 0, 0, 0, 5, 4, 12, 16, 4,
        0, 0, 0, 9, 16, 16, 10, 0, 0,
    ],
];

/// The first 12 rows of Iris (scikit-learn 1.9.1, UCI, CC BY 4.0) with
/// the project's fixed split.
const IRIS: &str = "\
sepal_length_(cm),sepal_width_(cm),petal_length_(cm),petal_width_(cm),label,is_test
5.1,3.5,1.4,0.2,0,1
4.9,3.0,1.4,0.2,0,0
4.7,3.2,1.3,0.2,0,0
4.6,3.1,1.5,0.2,0,1
5.0,3.6,1.4,0.2,0,0
5.4,3.9,1.7,0.4,0,0
4.6,3.4,1.4,0.3,0,1
5.0,3.4,1.5,0.2,0,0
4.4,2.9,1.4,0.2,0,0
4.9,3.1,1.5,0.1,0,1
5.4,3.7,1.5,0.2,0,0
4.8,3.4,1.6,0.2,0,0
";

/// Five rows of Wine (scikit-learn 1.9.1, UCI, CC BY 4.0), labels changed
/// to 0..2 to have several classes.
const WINE: &str = "\
alcohol,malic_acid,ash,alcalinity_of_ash,magnesium,total_phenols,flavanoids,nonflavanoid_phenols,proanthocyanins,color_intensity,hue,od280/od315_of_diluted_wines,proline,label,is_test
14.23,1.71,2.43,15.6,127.0,2.8,3.06,0.28,2.29,5.64,1.04,3.92,1065.0,0,1
13.2,1.78,2.14,11.2,100.0,2.65,2.76,0.26,1.28,4.38,1.05,3.4,1050.0,1,0
13.16,2.36,2.67,18.6,101.0,2.8,3.24,0.3,2.81,5.68,1.03,3.17,1185.0,2,0
14.37,1.95,2.5,16.8,113.0,3.85,3.49,0.24,2.18,7.8,0.86,3.45,1480.0,0,1
13.24,2.59,2.87,21.0,118.0,2.8,2.69,0.39,1.82,4.32,1.04,2.93,735.0,1,0
";

/// A hand-written CSV: label column by index 2, no `is_test` (random
/// split), CRLF, blank lines, spaces, signs and exponents.
const CSV_ODD: &str =
    "x0, x1 ,y,x3\r\n1e0,-2.5,2,0\r\n\r\n +3,.5, 0 ,1E-3\r\n-0,4.,1,+7\r\n  \n8,9,2.0,1e2\n";

/// `bytes` as an IDX file of unsigned bytes with dimensions `dims`.
fn idx(dims: &[usize], bytes: &[u8]) -> Vec<u8> {
    let nd = u8::try_from(dims.len()).expect("few dimensions");
    let mut v = vec![0, 0, 8, nd];
    for &d in dims {
        v.extend_from_slice(&u32::try_from(d).expect("small").to_be_bytes());
    }
    v.extend_from_slice(bytes);
    v
}

/// A `.npy` file (`version` 1 or 2) of dtype `descr` and `shape` (Python
/// tuple syntax) holding the raw elements `payload`.
fn npy(version: u8, descr: &str, fortran: bool, shape: &str, payload: &[u8]) -> Vec<u8> {
    let order = if fortran { "True" } else { "False" };
    let mut h = format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape}, }}");
    let prefix = if version == 1 { 10 } else { 12 };
    while (prefix + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut v = b"\x93NUMPY".to_vec();
    v.extend_from_slice(&[version, 0]);
    if version == 1 {
        v.extend_from_slice(&u16::try_from(h.len()).expect("short header").to_le_bytes());
    } else {
        v.extend_from_slice(&u32::try_from(h.len()).expect("short header").to_le_bytes());
    }
    v.extend_from_slice(h.as_bytes());
    v.extend_from_slice(payload);
    v
}

/// An input: format byte, flags byte, files joined by [`SEP`].
fn input(format: u8, flags: u8, files: &[&[u8]]) -> Vec<u8> {
    let mut v = vec![format, flags];
    for (i, f) in files.iter().enumerate() {
        assert!(!f.windows(SEP.len()).any(|w| w == SEP), "a file holds SEP");
        if i > 0 {
            v.extend_from_slice(SEP);
        }
        v.extend_from_slice(f);
    }
    v
}

/// Small valid inputs of every format, plain, wrapped in gzip by the flags
/// and as gzip files, named for what they hold (`fuzz/corpus/dataset/`,
/// written by `cargo run -p fedhe-learn --features fuzzing --example
/// gen_fuzz_corpus -- fuzz/corpus`).
#[must_use]
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let labels: Vec<u8> = (0..6).collect();
    let pixels: Vec<u8> = DIGITS.iter().flatten().map(|&p| p * 15).collect();
    let lbl = idx(&[6], &labels);
    let img = idx(&[6, 8, 8], &pixels);
    let digits_csv = {
        let mut s: Vec<String> = (0..64)
            .map(|i| format!("pixel_{}_{}", i / 8, i % 8))
            .collect();
        s.extend(["label".to_owned(), "is_test".to_owned()]);
        let mut t = s.join(",") + "\n";
        for (i, row) in DIGITS.iter().enumerate() {
            let cells: Vec<String> = row.iter().map(u8::to_string).collect();
            t += &format!("{},{i},{}\n", cells.join(","), u8::from(i % 3 == 2));
        }
        t
    };
    let f8: Vec<u8> = DIGITS
        .iter()
        .take(5)
        .flatten()
        .flat_map(|&p| f64::from(p).to_le_bytes())
        .collect();
    let i8s: Vec<u8> = (0..5i64).flat_map(|l| (l % 3).to_le_bytes()).collect();
    let x_f4: Vec<u8> = (0..12u8)
        .flat_map(|k| (f32::from(k) * 0.25 - 1.0).to_le_bytes())
        .collect();
    let x_be: Vec<u8> = [-300i16, 7, 0, 1, 32767, -32768]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let y_be: Vec<u8> = [2i32, 0, 1].iter().flat_map(|v| v.to_be_bytes()).collect();
    let x_mixed: Vec<u8> = [1i8, -2, 3, -4, 5, -6]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let y_u4: Vec<u8> = [9u32, 0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let m_i2: Vec<u8> = [0i16, 1].iter().flat_map(|v| v.to_le_bytes()).collect();
    let x_u2: Vec<u8> = [1u16, 65535, 3, 4]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let y_u8: Vec<u8> = [1u64, 3].iter().flat_map(|v| v.to_le_bytes()).collect();
    let m_f8: Vec<u8> = [1.0f64, 0.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let x_i4: Vec<u8> = [5i32, -6].iter().flat_map(|v| v.to_le_bytes()).collect();
    let y_f4: Vec<u8> = [1.0f32, 0.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let m_u1 = [0u8, 0, 1, 0, 1];
    vec![
        ("idx-labels", input(0, 0, &[&lbl])),
        ("idx-labels-wrapped-gzip", input(0, 1, &[&lbl])),
        ("idx-labels-wrapped-gzip-2-members", input(0, 5, &[&lbl])),
        ("idx-labels-gzip-file", input(0, 0, &[&gzip(&lbl, false)])),
        ("idx-images", input(1, 0, &[&img])),
        ("idx-images-labels", input(1, 0, &[&img, &lbl])),
        ("idx-images-labels-wrapped-gzip", input(1, 3, &[&img, &lbl])),
        (
            "idx-images-labels-gzip-files",
            input(1, 0, &[&gzip(&img, false), &gzip(&lbl, false)]),
        ),
        ("csv-iris-is_test", input(2, 0, &[IRIS.as_bytes()])),
        ("csv-iris-wrapped-gzip", input(2, 1, &[IRIS.as_bytes()])),
        (
            "csv-wine-gzip-file",
            input(2, 0, &[&gzip(WINE.as_bytes(), false)]),
        ),
        ("csv-digits", input(2, 0, &[digits_csv.as_bytes()])),
        (
            "csv-label-by-index-crlf-random-split",
            input(2, 8 | (2 << 4), &[CSV_ODD.as_bytes()]),
        ),
        (
            "npy-digits-f8-i8-u1-mask",
            input(
                3,
                0,
                &[
                    &npy(1, "<f8", false, "(5, 64)", &f8),
                    &npy(1, "<i8", false, "(5,)", &i8s),
                    &npy(1, "|u1", false, "(5,)", &m_u1),
                ],
            ),
        ),
        (
            "npy-f4-fortran-u1-random-split",
            input(
                3,
                0,
                &[
                    &npy(1, "<f4", true, "(4, 3)", &x_f4),
                    &npy(1, "|u1", false, "(4,)", &[1, 0, 1, 1]),
                ],
            ),
        ),
        (
            "npy-v2-big-endian-i2-i4-b1",
            input(
                3,
                0,
                &[
                    &npy(2, ">i2", false, "(3, 2)", &x_be),
                    &npy(2, ">i4", false, "(3,)", &y_be),
                    &npy(1, "|b1", false, "(3,)", &[0, 1, 0]),
                ],
            ),
        ),
        (
            "npy-i1-u4-i2",
            input(
                3,
                0,
                &[
                    &npy(1, "|i1", false, "(2, 3)", &x_mixed),
                    &npy(1, "<u4", false, "(2,)", &y_u4),
                    &npy(1, "<i2", false, "(2,)", &m_i2),
                ],
            ),
        ),
        (
            "npy-u2-u8-f8",
            input(
                3,
                0,
                &[
                    &npy(1, "<u2", true, "(2, 2)", &x_u2),
                    &npy(1, "<u8", false, "(2,)", &y_u8),
                    &npy(1, "<f8", false, "(2,)", &m_f8),
                ],
            ),
        ),
        (
            "npy-i4-f4",
            input(
                3,
                0,
                &[
                    &npy(3, "=i4", false, "(2, 1)", &x_i4),
                    &npy(1, "<f4", false, "(2,)", &y_f4),
                ],
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_is_accepted_as_its_name_says() {
        let seeds = seeds();
        for (name, data) in &seeds {
            let a = accepted(data);
            let a = a.unwrap_or_else(|| panic!("seed {name} refused"));
            assert!(name.starts_with(a.format), "{name}: {a:?}");
            assert_eq!(name.contains("gzip"), a.gzip, "{name}: {a:?}");
            let files = data.windows(SEP.len()).filter(|w| *w == SEP).count() + 1;
            assert_eq!(a.files, files, "{name}: {a:?}");
        }
        for f in FORMATS {
            assert!(
                seeds.iter().any(|(n, _)| n.starts_with(f)),
                "no seed of {f}"
            );
        }
        assert!(TARGETS.iter().all(|t| run(t, &[])));
        assert!(!run("nope", &[]));
    }
}
