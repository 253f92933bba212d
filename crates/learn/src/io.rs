//! Dataset readers: the embedded sklearn digits, IDX (MNIST, Fashion-MNIST),
//! CSV and `.npy`.
//!
//! Every reader decodes, then checks conformance (magic, dimensions, counts,
//! label range, no trailing bytes), then builds [`Samples`]. Errors name the
//! file and what was wrong. Readers return raw features (image pixels scaled
//! to `[0, 1]`); standardisation is a separate, explicit step
//! ([`Dataset::standardize`]) fitted on the training split only.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use ndarray::Array2;

use crate::data::{Dataset, MAX_CLASSES, Samples};
use crate::error::{Error, Result};

/// The embedded sklearn digits CSV (gzip). See `data/README.md` for provenance.
static DIGITS_CSV_GZ: &[u8] = include_bytes!("../data/digits.csv.gz");

/// Seed of the random 75/25 split used by [`load_csv`] and [`load_npy`] when
/// the file carries no `is_test` split of its own.
pub const DEFAULT_SPLIT_SEED: u64 = 0;

/// Test fraction of that split (scikit-learn's `train_test_split` default).
pub const DEFAULT_TEST_FRACTION: f64 = 0.25;

/// Largest decompressed payload a reader accepts (bytes). Guards against a
/// header that claims absurd dimensions or a gzip bomb.
const MAX_PAYLOAD: u64 = 1 << 32;

/// The UCI optical-recognition handwritten digits (8×8, pixel values 0..16,
/// 10 classes), as shipped with scikit-learn 1.9.1, embedded in the crate
/// with the project's fixed split: 1347 training and 450 test examples
/// (`train_test_split(test_size=0.25, random_state=0, stratify=y)`).
///
/// Features are the raw 0..16 intensities; call [`Dataset::standardize`].
/// Licence: data CC BY 4.0 (UCI, Alpaydin & Kaynak 1998).
///
/// # Errors
/// Only if the embedded bytes were corrupted at build time (a test checks
/// they are not).
pub fn digits() -> Result<Dataset> {
    let path = Path::new("<embedded>/digits.csv.gz");
    let bytes = gunzip(DIGITS_CSV_GZ, path)?;
    let mut ds = parse_csv(&bytes, path, "label")?;
    ds.name = "digits".to_owned();
    Ok(ds)
}

/// Decompresses a whole gzip file: every member (RFC 1952 allows several
/// members one after the other, as `cat a.gz b.gz` and parallel compressors
/// write them; the content is their concatenation), and nothing after them.
pub(crate) fn gunzip(bytes: &[u8], path: &Path) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    MultiGzDecoder::new(bytes)
        .take(MAX_PAYLOAD + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::format(path, format!("gzip stream is corrupt: {e}")))?;
    if out.len() as u64 > MAX_PAYLOAD {
        return Err(Error::format(
            path,
            format!("decompressed size exceeds {MAX_PAYLOAD} bytes"),
        ));
    }
    Ok(out)
}

/// Reads a file, transparently gunzipping it if it starts with the gzip magic.
fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = fs::read(path).map_err(|e| Error::io(path, e))?;
    maybe_gunzip(raw, path)
}

/// A file's content: gunzipped if it starts with the gzip magic, as is
/// otherwise (`path` only names the file in errors).
pub(crate) fn maybe_gunzip(raw: Vec<u8>, path: &Path) -> Result<Vec<u8>> {
    if raw.starts_with(&[0x1f, 0x8b]) {
        gunzip(&raw, path)
    } else {
        Ok(raw)
    }
}

// ---------------------------------------------------------------- IDX

/// A decoded IDX file of unsigned bytes (the only element type MNIST and
/// Fashion-MNIST use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idx {
    /// Dimensions, outermost first.
    pub dims: Vec<usize>,
    /// Row-major payload, `dims.iter().product()` bytes.
    pub data: Vec<u8>,
}

/// Reads an IDX file (optionally gzipped) whose magic must be
/// `0x00 0x00 0x08 ndims`.
///
/// # Errors
/// [`Error::Io`] if unreadable; [`Error::Format`] for bad magic, an element
/// type other than unsigned byte, a different number of dimensions, a
/// truncated payload or trailing bytes.
pub fn read_idx(path: &Path, ndims: u8) -> Result<Idx> {
    let bytes = read_maybe_gz(path)?;
    decode_idx(&bytes, path, ndims)
}

/// Decodes the (decompressed) bytes of an IDX file; `path` only names the
/// file in errors.
pub(crate) fn decode_idx(bytes: &[u8], path: &Path, ndims: u8) -> Result<Idx> {
    let magic = bytes.get(..4).ok_or_else(|| {
        Error::format(
            path,
            format!("truncated: {} bytes, no IDX header", bytes.len()),
        )
    })?;
    if magic.get(..2) != Some(&[0, 0][..]) {
        return Err(Error::format(
            path,
            format!("bad IDX magic {magic:02x?}: expected 00 00 08 {ndims:02x}"),
        ));
    }
    if magic.get(2) != Some(&0x08) {
        return Err(Error::format(
            path,
            format!(
                "unsupported IDX element type {:#04x}: only unsigned byte (0x08) is supported",
                magic.get(2).copied().unwrap_or(0)
            ),
        ));
    }
    let got_ndims = magic.get(3).copied().unwrap_or(0);
    if got_ndims != ndims {
        return Err(Error::format(
            path,
            format!("wrong number of dimensions: header says {got_ndims}, expected {ndims}"),
        ));
    }
    let header_len = 4 + 4 * usize::from(ndims);
    let dims_bytes = bytes
        .get(4..header_len)
        .ok_or_else(|| Error::format(path, "truncated IDX header (dimension sizes missing)"))?;
    let dims: Vec<usize> = dims_bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let expected = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .filter(|&n| n <= MAX_PAYLOAD);
    let Some(expected) = expected else {
        return Err(Error::format(
            path,
            format!("dimensions {dims:?} exceed the {MAX_PAYLOAD}-byte limit"),
        ));
    };
    let payload = bytes.get(header_len..).unwrap_or(&[]);
    let got = payload.len() as u64;
    if got < expected {
        return Err(Error::format(
            path,
            format!("truncated: dimensions {dims:?} need {expected} data bytes, file has {got}"),
        ));
    }
    if got > expected {
        return Err(Error::format(
            path,
            format!(
                "{} trailing bytes after the {expected} data bytes of dimensions {dims:?}",
                got - expected
            ),
        ));
    }
    Ok(Idx {
        dims,
        data: payload.to_vec(),
    })
}

/// Finds the first existing file among the usual spellings of an IDX name.
fn find_idx(dir: &Path, stem: &str, ext: &str) -> Result<PathBuf> {
    let candidates = [
        format!("{stem}-{ext}.gz"),
        format!("{stem}-{ext}"),
        format!("{stem}.{ext}"),
        format!("{stem}.{ext}.gz"),
    ];
    candidates
        .iter()
        .map(|c| dir.join(c))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::io(
                dir.join(&candidates[0]),
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!(
                        "no {} (or unzipped variants) in {}",
                        candidates[0],
                        dir.display()
                    ),
                ),
            )
        })
}

fn load_idx_pair(dir: &Path, split: &str, n_classes: usize) -> Result<Samples> {
    let img_path = find_idx(dir, &format!("{split}-images"), "idx3-ubyte")?;
    let lbl_path = find_idx(dir, &format!("{split}-labels"), "idx1-ubyte")?;
    let img = read_idx(&img_path, 3)?;
    let lbl = read_idx(&lbl_path, 1)?;
    idx_samples(&img, &img_path, &lbl, &lbl_path, n_classes)
}

/// The examples of a decoded images file (3-D) and its labels file (1-D);
/// the paths only name the files in errors.
pub(crate) fn idx_samples(
    img: &Idx,
    img_path: &Path,
    lbl: &Idx,
    lbl_path: &Path,
    n_classes: usize,
) -> Result<Samples> {
    let (n, h, w) = match img.dims[..] {
        [n, h, w] => (n, h, w),
        _ => return Err(Error::format(img_path, "expected 3 dimensions")),
    };
    // A dataset must hold examples and features: without them, its feature
    // count (which sizes the model) would come from the header alone.
    if n == 0 || h * w == 0 {
        return Err(Error::format(
            img_path,
            format!(
                "dimensions {:?}: no {}",
                img.dims,
                if n == 0 { "images" } else { "pixels" }
            ),
        ));
    }
    let n_labels = lbl.dims.first().copied().unwrap_or(0);
    if n_labels != n {
        return Err(Error::format(
            lbl_path,
            format!(
                "{n_labels} labels but {} has {n} images",
                img_path.display()
            ),
        ));
    }
    if let Some((i, &l)) = lbl
        .data
        .iter()
        .enumerate()
        .find(|&(_, &l)| usize::from(l) >= n_classes)
    {
        return Err(Error::format(
            lbl_path,
            format!("label {l} at index {i} out of range 0..{n_classes}"),
        ));
    }
    let x = Array2::from_shape_vec(
        (n, h * w),
        img.data.iter().map(|&p| f32::from(p) / 255.0).collect(),
    )
    .map_err(|e| Error::format(img_path, format!("inconsistent shape: {e}")))?;
    let y = lbl.data.iter().map(|&l| usize::from(l)).collect();
    Samples::new(x, y, n_classes)
}

/// Loads MNIST from a directory holding the four IDX files
/// (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`,
/// `t10k-images-idx3-ubyte[.gz]`, `t10k-labels-idx1-ubyte[.gz]`; the
/// `train-images.idx3-ubyte` spelling is accepted too). Pixels are scaled
/// to `[0, 1]`; the standard 60 000 / 10 000 split is kept.
///
/// # Errors
/// [`Error::Io`] naming the missing file, or [`Error::Format`] as for
/// [`read_idx`], plus label/image count mismatch, labels above 9, and
/// images files without images or pixels.
pub fn load_mnist_dir(dir: &Path) -> Result<Dataset> {
    load_idx_dataset(dir, "mnist")
}

/// Loads Fashion-MNIST (same format and layout as MNIST). The Debian package
/// `dataset-fashion-mnist` installs it into [`FASHION_MNIST_DEFAULT_DIR`].
///
/// # Errors
/// As [`load_mnist_dir`].
pub fn load_fashion_dir(dir: &Path) -> Result<Dataset> {
    load_idx_dataset(dir, "fashion")
}

/// Where `apt-get install dataset-fashion-mnist` puts the files.
pub const FASHION_MNIST_DEFAULT_DIR: &str = "/usr/share/datasets/fashion-mnist";

fn load_idx_dataset(dir: &Path, name: &str) -> Result<Dataset> {
    let train = load_idx_pair(dir, "train", 10)?;
    let test = load_idx_pair(dir, "t10k", 10)?;
    if train.n_features() != test.n_features() {
        return Err(Error::format(
            dir,
            format!(
                "train images have {} pixels, test images {}",
                train.n_features(),
                test.n_features()
            ),
        ));
    }
    Dataset::new(name, train, test)
}

// ---------------------------------------------------------------- CSV

/// Loads a CSV file: a header row naming the columns, then one example per
/// row. `label_col` is a column name (or, failing that, a 0-based column
/// index); labels must be non-negative integers and the label space is
/// `0..=max label`. A column named `is_test` (values 0/1), if present, gives
/// the split; otherwise a seeded 75/25 random split
/// ([`DEFAULT_SPLIT_SEED`]) is used. All other columns are features.
///
/// Plain comma-separated numbers only: no quoting, no missing values.
///
/// # Errors
/// [`Error::Io`] if unreadable; [`Error::Format`] naming the row and column
/// of a non-numeric cell, a feature beyond the `f32` range, a ragged row, a
/// bad label, or a missing label column.
pub fn load_csv(path: &Path, label_col: &str) -> Result<Dataset> {
    let bytes = read_maybe_gz(path)?;
    csv_dataset(&bytes, path, label_col)
}

/// [`load_csv`] on the file's (decompressed) bytes; `path` names the file in
/// errors and the dataset by its stem.
pub(crate) fn csv_dataset(bytes: &[u8], path: &Path, label_col: &str) -> Result<Dataset> {
    let mut ds = parse_csv(bytes, path, label_col)?;
    if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
        stem.clone_into(&mut ds.name);
    }
    Ok(ds)
}

fn parse_csv(bytes: &[u8], path: &Path, label_col: &str) -> Result<Dataset> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| Error::format(path, format!("not UTF-8 text: {e}")))?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines
        .next()
        .ok_or_else(|| Error::format(path, "empty file (no header row)"))?;
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    if names.iter().all(|n| n.parse::<f64>().is_ok()) {
        return Err(Error::format(
            path,
            "line 1 is numeric: a header row naming the columns is required",
        ));
    }
    let label_idx = names
        .iter()
        .position(|n| *n == label_col)
        .or_else(|| label_col.parse::<usize>().ok().filter(|&i| i < names.len()))
        .ok_or_else(|| {
            Error::format(
                path,
                format!(
                    "no label column '{label_col}' in header ({} columns)",
                    names.len()
                ),
            )
        })?;
    let split_idx = names
        .iter()
        .position(|n| *n == "is_test")
        .filter(|&i| i != label_idx);
    let feature_cols: Vec<usize> = (0..names.len())
        .filter(|&i| i != label_idx && Some(i) != split_idx)
        .collect();
    if feature_cols.is_empty() {
        return Err(Error::format(path, "no feature columns"));
    }

    let mut feats: Vec<f32> = Vec::new();
    let mut labels: Vec<usize> = Vec::new();
    let mut is_test: Vec<bool> = Vec::new();
    for (line_no, line) in lines {
        let row = line_no + 1;
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() != names.len() {
            return Err(Error::format(
                path,
                format!(
                    "row {row}: {} cells, header has {}",
                    cells.len(),
                    names.len()
                ),
            ));
        }
        let num = |col: usize| -> Result<f64> {
            let cell = cells.get(col).copied().unwrap_or("");
            let v: f64 = cell.parse().map_err(|_| {
                Error::format(
                    path,
                    format!(
                        "row {row}, column {} ('{}'): '{cell}' is not a number",
                        col + 1,
                        names.get(col).copied().unwrap_or("")
                    ),
                )
            })?;
            if v.is_finite() {
                Ok(v)
            } else {
                Err(Error::format(
                    path,
                    format!("row {row}, column {}: '{cell}' is not finite", col + 1),
                ))
            }
        };
        for &c in &feature_cols {
            let v = num(c)?;
            #[expect(
                clippy::cast_possible_truncation,
                reason = "features are stored as f32 by design (checked finite below)"
            )]
            let f = v as f32;
            if !f.is_finite() {
                return Err(Error::format(
                    path,
                    format!(
                        "row {row}, column {}: {v} is beyond the 32-bit float range of features",
                        c + 1
                    ),
                ));
            }
            feats.push(f);
        }
        let l = num(label_idx)?;
        labels.push(to_label(l).ok_or_else(|| {
            Error::format(path, format!("row {row}, column {} ('{label_col}'): label {l} out of range (integers 0..{MAX_CLASSES})", label_idx + 1))
        })?);
        if let Some(si) = split_idx {
            let v = num(si)?;
            if v != 0.0 && v != 1.0 {
                return Err(Error::format(
                    path,
                    format!(
                        "row {row}, column {} ('is_test'): {v} is not 0 or 1",
                        si + 1
                    ),
                ));
            }
            is_test.push(v == 1.0);
        }
    }
    if labels.is_empty() {
        return Err(Error::format(path, "no data rows"));
    }
    let n_classes = labels.iter().max().map_or(1, |m| m + 1);
    let x = Array2::from_shape_vec((labels.len(), feature_cols.len()), feats)
        .map_err(|e| Error::format(path, format!("inconsistent shape: {e}")))?;
    let all = Samples::new(x, labels, n_classes)?;
    let name = path.to_string_lossy().into_owned();
    if split_idx.is_some() {
        Dataset::from_mask(name, &all, &is_test)
    } else {
        Dataset::random_split(name, &all, DEFAULT_TEST_FRACTION, DEFAULT_SPLIT_SEED)
    }
}

/// A label must be an integer in `0..MAX_CLASSES`.
fn to_label(v: f64) -> Option<usize> {
    #[expect(clippy::cast_precision_loss, reason = "MAX_CLASSES is small")]
    let ok = v.fract() == 0.0 && v >= 0.0 && v < MAX_CLASSES as f64;
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "range checked above"
    )]
    ok.then_some(v as usize)
}

// ---------------------------------------------------------------- NPY

/// A decoded `.npy` array, converted to f64.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Npy {
    /// Dimensions, outermost first.
    pub(crate) shape: Vec<usize>,
    /// The elements in row-major (C) order.
    pub(crate) data: Vec<f64>,
}

/// Decodes `.npy` version 1–3: little/big-endian `f4 f8 i1 i2 i4 i8 u1 u2 u4
/// u8 b1`, C or Fortran order.
fn read_npy_file(path: &Path) -> Result<Npy> {
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_npy(&bytes, path)
}

/// Decodes the bytes of a `.npy` file; `path` only names the file in errors.
pub(crate) fn decode_npy(bytes: &[u8], path: &Path) -> Result<Npy> {
    if !bytes.starts_with(b"\x93NUMPY") {
        return Err(Error::format(
            path,
            "bad magic: not a .npy file (expected \\x93NUMPY)",
        ));
    }
    let major = bytes
        .get(6)
        .copied()
        .ok_or_else(|| Error::format(path, "truncated header"))?;
    let (hlen, hstart) = match major {
        1 => (
            bytes
                .get(8..10)
                .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]]))),
            10,
        ),
        2 | 3 => (
            bytes
                .get(8..12)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize),
            12,
        ),
        v => return Err(Error::format(path, format!("unsupported .npy version {v}"))),
    };
    let hlen = hlen.ok_or_else(|| Error::format(path, "truncated header"))?;
    let header = bytes
        .get(hstart..hstart + hlen)
        .ok_or_else(|| Error::format(path, "truncated header"))?;
    let header =
        std::str::from_utf8(header).map_err(|_| Error::format(path, "header is not text"))?;
    let field = |key: &str| -> Result<&str> {
        let pat = format!("'{key}':");
        let at = header
            .find(&pat)
            .ok_or_else(|| Error::format(path, format!("header has no '{key}'")))?;
        Ok(header.get(at + pat.len()..).unwrap_or("").trim_start())
    };
    let descr = field("descr")?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|d| d.split('\'').next())
        .ok_or_else(|| Error::format(path, "malformed 'descr'"))?;
    let fortran = field("fortran_order")?.starts_with("True");
    let shape_s = field("shape")?;
    let shape_s = shape_s
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| Error::format(path, "malformed 'shape'"))?;
    let shape = shape_s
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| Error::format(path, format!("malformed shape entry '{s}'")))
        })
        .collect::<Result<Vec<_>>>()?;

    // (Not `split_at(1)`: the first character may be several bytes long.)
    let (endian, kind) = descr.split_at_checked(1).unwrap_or((descr, ""));
    let big = match endian {
        "<" | "|" | "=" => false,
        ">" => true,
        _ => return Err(Error::format(path, format!("unsupported dtype '{descr}'"))),
    };
    let size: usize = match kind {
        "f4" | "i4" | "u4" => 4,
        "f8" | "i8" | "u8" => 8,
        "i2" | "u2" => 2,
        "i1" | "u1" | "b1" => 1,
        _ => {
            return Err(Error::format(
                path,
                format!("unsupported dtype '{descr}' (numeric types only)"),
            ));
        }
    };
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| (n as u64).saturating_mul(size as u64) <= MAX_PAYLOAD);
    let n = n.ok_or_else(|| Error::format(path, format!("shape {shape:?} too large")))?;
    let payload = bytes.get(hstart + hlen..).unwrap_or(&[]);
    if payload.len() < n * size {
        return Err(Error::format(
            path,
            format!(
                "truncated: shape {shape:?} of '{descr}' needs {} data bytes, file has {}",
                n * size,
                payload.len()
            ),
        ));
    }
    if payload.len() > n * size {
        return Err(Error::format(
            path,
            format!(
                "{} trailing bytes after the data of shape {shape:?}",
                payload.len() - n * size
            ),
        ));
    }
    let mut data = Vec::with_capacity(n);
    for c in payload.chunks_exact(size) {
        let mut b = [0u8; 8];
        if big {
            for (dst, src) in b.iter_mut().zip(c.iter().rev()) {
                *dst = *src;
            }
        } else {
            for (dst, src) in b.iter_mut().zip(c.iter()) {
                *dst = *src;
            }
        }
        #[expect(
            clippy::cast_precision_loss,
            reason = "integer arrays here are labels or masks, far below 2^52"
        )]
        let v = match kind {
            "f4" => f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            "f8" => f64::from_le_bytes(b),
            "i1" => f64::from(i8::from_le_bytes([b[0]])),
            "i2" => f64::from(i16::from_le_bytes([b[0], b[1]])),
            "i4" => f64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            "i8" => i64::from_le_bytes(b) as f64,
            "u1" | "b1" => f64::from(b[0]),
            "u2" => f64::from(u16::from_le_bytes([b[0], b[1]])),
            "u4" => f64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            _ => u64::from_le_bytes(b) as f64,
        };
        data.push(v);
    }
    if fortran && shape.len() == 2 {
        // Column-major on disk: transpose into row-major.
        let (r, c) = (shape[0], shape[1]);
        let mut t = vec![0.0; n];
        for (k, v) in data.iter().enumerate() {
            if let Some(slot) = t.get_mut((k % r) * c + k / r) {
                *slot = *v;
            }
        }
        data = t;
    }
    Ok(Npy { shape, data })
}

/// Loads features (`x_path`, a 2-D float or integer array, one row per
/// example) and labels (`y_path`, a 1-D integer array) from `.npy` files.
/// `is_test_path`, if given, is a 1-D 0/1 mask giving the split; otherwise a
/// seeded 75/25 random split ([`DEFAULT_SPLIT_SEED`]) is used.
///
/// # Errors
/// [`Error::Io`] if unreadable; [`Error::Format`] naming the file for bad
/// magic, unsupported dtype, truncation, wrong dimensions, no examples or no
/// features, features that are not finite as `f32`, non-integer or
/// out-of-range labels, or mismatched lengths.
pub fn load_npy(x_path: &Path, y_path: &Path, is_test_path: Option<&Path>) -> Result<Dataset> {
    let xa = read_npy_file(x_path)?;
    let ya = read_npy_file(y_path)?;
    npy_dataset(&xa, x_path, &ya, y_path, is_test_path, read_npy_file)
}

/// [`load_npy`] on decoded arrays; the split mask, if `is_test_path` names
/// one, is read with `read_mask` only once features and labels passed their
/// checks. The paths name the files in errors and the dataset (`x_path`'s
/// stem).
pub(crate) fn npy_dataset(
    xa: &Npy,
    x_path: &Path,
    ya: &Npy,
    y_path: &Path,
    is_test_path: Option<&Path>,
    read_mask: impl FnOnce(&Path) -> Result<Npy>,
) -> Result<Dataset> {
    let (n, d) = match xa.shape[..] {
        [n, d] => (n, d),
        _ => {
            return Err(Error::format(
                x_path,
                format!(
                    "wrong dimensions: shape {:?}, expected 2-D (examples, features)",
                    xa.shape
                ),
            ));
        }
    };
    // A dataset must hold examples and features: without them, its feature
    // count (which sizes the model) would come from the header alone.
    if n == 0 || d == 0 {
        return Err(Error::format(
            x_path,
            format!(
                "shape {:?}: no {}",
                xa.shape,
                if n == 0 { "examples" } else { "features" }
            ),
        ));
    }
    if ya.shape.len() != 1 {
        return Err(Error::format(
            y_path,
            format!(
                "wrong dimensions: shape {:?}, expected 1-D labels",
                ya.shape
            ),
        ));
    }
    if ya.data.len() != n {
        return Err(Error::format(
            y_path,
            format!(
                "{} labels but {} has {n} rows",
                ya.data.len(),
                x_path.display()
            ),
        ));
    }
    // Features are stored as f32: a finite f64 beyond its range would become
    // infinite.
    #[expect(
        clippy::cast_possible_truncation,
        reason = "the check that the f32 conversion is finite"
    )]
    let beyond = xa.data.iter().position(|&v| !(v as f32).is_finite());
    if let Some(i) = beyond {
        let v = xa.data.get(i).copied().unwrap_or(f64::NAN);
        let (row, col) = (i / d.max(1), i % d.max(1));
        return Err(Error::format(
            x_path,
            if v.is_finite() {
                format!(
                    "value {v} at row {row}, column {col} is beyond the 32-bit float range of features"
                )
            } else {
                format!("non-finite value at row {row}, column {col}")
            },
        ));
    }
    let y = ya
        .data
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            to_label(v).ok_or_else(|| {
                Error::format(
                    y_path,
                    format!("label {v} at index {i} out of range (integers 0..{MAX_CLASSES})"),
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    #[expect(
        clippy::cast_possible_truncation,
        reason = "features are stored as f32 by design"
    )]
    let x = Array2::from_shape_vec((n, d), xa.data.iter().map(|&v| v as f32).collect())
        .map_err(|e| Error::format(x_path, format!("inconsistent shape: {e}")))?;
    let n_classes = y.iter().max().map_or(1, |m| m + 1);
    let all = Samples::new(x, y, n_classes)?;
    let name = x_path
        .file_stem()
        .map_or_else(|| "npy".to_owned(), |s| s.to_string_lossy().into_owned());
    match is_test_path {
        Some(p) => {
            let m = read_mask(p)?;
            if m.shape.len() != 1 || m.data.len() != n {
                return Err(Error::format(
                    p,
                    format!("split mask has shape {:?}, expected ({n},)", m.shape),
                ));
            }
            if let Some(i) = m.data.iter().position(|&v| v != 0.0 && v != 1.0) {
                return Err(Error::format(
                    p,
                    format!("split mask value at index {i} is not 0 or 1"),
                ));
            }
            let mask: Vec<bool> = m.data.iter().map(|&v| v == 1.0).collect();
            Dataset::from_mask(name, &all, &mask)
        }
        None => Dataset::random_split(name, &all, DEFAULT_TEST_FRACTION, DEFAULT_SPLIT_SEED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idx_rejects_corruption() {
        let p = Path::new("t.idx");
        let good = [0u8, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3];
        assert_eq!(
            decode_idx(&good, p, 1).ok().map(|i| i.data),
            Some(vec![1, 2, 3])
        );
        for (bytes, want) in [
            (&[0u8, 0, 8][..], "truncated"),
            (&[1u8, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3][..], "bad IDX magic"),
            (&[0u8, 0, 0x0d, 1, 0, 0, 0, 3, 1, 2, 3][..], "element type"),
            (&[0u8, 0, 8, 3, 0, 0, 0, 3, 1, 2, 3][..], "dimensions"),
            (&[0u8, 0, 8, 1, 0, 0, 0, 4, 1, 2, 3][..], "truncated"),
            (&[0u8, 0, 8, 1, 0, 0, 0, 2, 1, 2, 3][..], "trailing"),
            (&[0u8, 0, 8, 1, 0, 0][..], "truncated IDX header"),
        ] {
            let e = decode_idx(bytes, p, 1)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                e.contains(want) && e.contains("t.idx"),
                "{e:?} should mention {want}"
            );
        }
    }

    #[test]
    fn gunzip_reads_every_member_and_nothing_else() {
        use std::io::Write;
        let p = Path::new("t.gz");
        let gz = |data: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).ok();
            e.finish().unwrap_or_default()
        };
        let mut two = gz(b"a,label\n1,0\n");
        two.extend(gz(b"2,1\n"));
        assert_eq!(
            maybe_gunzip(two.clone(), p).ok().as_deref(),
            Some(&b"a,label\n1,0\n2,1\n"[..])
        );
        two.extend_from_slice(b"garbage");
        let e = maybe_gunzip(two, p)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("gzip stream is corrupt") && e.contains("t.gz"),
            "{e}"
        );
    }

    #[test]
    fn npy_rejects_corruption() {
        let p = Path::new("a.npy");
        let mk = |descr: &str, shape: &str, data: &[u8]| {
            let mut h =
                format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}")
                    .into_bytes();
            h.push(b'\n');
            let mut v = b"\x93NUMPY\x01\x00".to_vec();
            v.extend_from_slice(&u16::try_from(h.len()).unwrap_or(0).to_le_bytes());
            v.extend_from_slice(&h);
            v.extend_from_slice(data);
            v
        };
        let ok = decode_npy(&mk("|u1", "(3,)", &[1, 2, 3]), p);
        assert_eq!(ok.ok().map(|n| n.data), Some(vec![1.0, 2.0, 3.0]));
        let be = decode_npy(&mk(">i2", "(1,)", &[1, 2]), p);
        assert_eq!(be.ok().map(|n| n.data), Some(vec![258.0]));
        for (bytes, want) in [
            (mk("\u{e9}f8", "(1,)", &[0; 8]), "unsupported dtype"),
            (b"NUMPY".to_vec(), "bad magic"),
            (mk("|u1", "(4,)", &[1, 2, 3]), "truncated"),
            (mk("|u1", "(2,)", &[1, 2, 3]), "trailing"),
            (mk("<c16", "(1,)", &[0; 16]), "unsupported dtype"),
            (mk("|u1", "(x,)", &[1]), "malformed shape"),
        ] {
            let e = decode_npy(&bytes, p)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                e.contains(want) && e.contains("a.npy"),
                "{e:?} should mention {want}"
            );
        }
    }

    #[test]
    fn datasets_need_examples_and_features_within_f32() {
        let (x, y) = (Path::new("x.npy"), Path::new("y.npy"));
        let arr = |shape: &[usize], data: &[f64]| Npy {
            shape: shape.to_vec(),
            data: data.to_vec(),
        };
        let no_mask = |_: &Path| -> Result<Npy> { Err(Error::format("none", "unused")) };
        let npy = |xa: &Npy, ya: &Npy| {
            npy_dataset(xa, x, ya, y, None, no_mask)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let ok = npy_dataset(
            &arr(&[1, 1], &[3e38]),
            x,
            &arr(&[1], &[0.0]),
            y,
            None,
            no_mask,
        );
        assert_eq!(ok.ok().map(|d| d.train.len() + d.test.len()), Some(1));
        for (xa, ya, want) in [
            (arr(&[0, 1 << 32], &[]), arr(&[0], &[]), "no examples"),
            (arr(&[2, 0], &[]), arr(&[2], &[0.0, 1.0]), "no features"),
            (
                arr(&[1, 1], &[1e39]),
                arr(&[1], &[0.0]),
                "beyond the 32-bit float range",
            ),
            (
                arr(&[1, 1], &[f64::NAN]),
                arr(&[1], &[0.0]),
                "non-finite value",
            ),
        ] {
            let e = npy(&xa, &ya);
            assert!(
                e.contains(want) && e.contains("x.npy"),
                "{e:?} should mention {want}"
            );
        }
        let (i, l) = (Path::new("i"), Path::new("l"));
        let idx = |dims: &[usize], data: &[u8]| Idx {
            dims: dims.to_vec(),
            data: data.to_vec(),
        };
        for (img, lbl, want) in [
            (
                idx(&[0, 1 << 16, 1 << 16], &[]),
                idx(&[0], &[]),
                "no images",
            ),
            (idx(&[2, 0, 8], &[]), idx(&[2], &[1, 2]), "no pixels"),
        ] {
            let e = idx_samples(&img, i, &lbl, l, 10)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                e.contains(want) && e.starts_with("i:"),
                "{e:?} should mention {want}"
            );
        }
        let one = idx_samples(&idx(&[1, 1, 2], &[0, 255]), i, &idx(&[1], &[9]), l, 10);
        assert_eq!(
            one.ok()
                .map(|s| s.x().to_owned().into_raw_vec_and_offset().0),
            Some(vec![0.0, 1.0])
        );
    }

    proptest::proptest! {
        /// Decoding never panics, whatever the bytes.
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300), cut in 0usize..300) {
            let p = Path::new("fuzz");
            let _ = decode_idx(&bytes, p, 1);
            let _ = decode_idx(&bytes, p, 3);
            let _ = decode_npy(&bytes, p);
            let _ = parse_csv(&bytes, p, "label");
            // Valid prefixes followed by garbage reach the deeper checks.
            let mut idx = vec![0u8, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1];
            idx.extend_from_slice(&bytes);
            let _ = decode_idx(&idx[..cut.min(idx.len())], p, 3);
            let mut npy = b"\x93NUMPY\x01\x00\x3a\x00{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }".to_vec();
            npy.extend_from_slice(&bytes);
            let _ = decode_npy(&npy[..cut.min(npy.len())], p);
            let _ = decode_npy(&npy, p);
            let mut csv = b"a,b,label,is_test\n".to_vec();
            csv.extend_from_slice(&bytes);
            let _ = parse_csv(&csv, p, "label");
        }
    }

    #[test]
    fn csv_rejects_corruption() {
        let p = Path::new("c.csv");
        let ok = parse_csv(
            b"a,b,label,is_test\n1,2,0,0\n3,4,1,1\n5,6,1,0\n",
            p,
            "label",
        );
        let ok = ok.ok();
        assert_eq!(
            ok.as_ref()
                .map(|d| (d.train.len(), d.test.len(), d.n_classes(), d.n_features())),
            Some((2, 1, 2, 2))
        );
        for (text, want) in [
            (&b""[..], "empty"),
            (
                b"a,b,label\n1,x,0\n",
                "row 2, column 2 ('b'): 'x' is not a number",
            ),
            (b"a,b,label\n1,2\n", "row 2: 2 cells"),
            (b"a,b,label\n1,2,0.5\n", "label 0.5 out of range"),
            (b"a,b,label\n1,2,-1\n", "out of range"),
            (b"a,b,y\n1,2,1\n", "no label column 'label'"),
            (b"a,b,label\n", "no data rows"),
            (b"1,2,3\n1,2,0\n", "header row"),
            (b"a,label,is_test\n1,0,2\n", "not 0 or 1"),
            (b"a,label\n1,0\nnan,1\n", "not finite"),
            (b"a,label\n1e39,0\n", "beyond the 32-bit float range"),
            (&[0xff, 0xfe][..], "UTF-8"),
        ] {
            let e = parse_csv(text, p, "label")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                e.contains(want) && e.contains("c.csv"),
                "{e:?} should mention {want}"
            );
        }
    }
}
