//! Bad dataset files give errors that name the file and what was wrong.

use std::io::Write;
use std::path::{Path, PathBuf};

use fedhe_learn::{Error, load_csv, load_mnist_dir, load_npy, read_idx};

/// A fresh scratch directory per test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fedhe-learn-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("cannot create {}: {e}", d.display()));
    d
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap_or_else(|e| panic!("{e}"));
    e.finish().unwrap_or_else(|e| panic!("{e}"))
}

fn idx_images(n: u32, h: u32, w: u32, fill: usize) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 3];
    for d in [n, h, w] {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend(std::iter::repeat_n(7u8, fill));
    v
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 1];
    v.extend_from_slice(&u32::try_from(labels.len()).unwrap_or(0).to_be_bytes());
    v.extend_from_slice(labels);
    v
}

fn expect_err<T: std::fmt::Debug>(r: fedhe_learn::Result<T>, file: &str, what: &str) {
    match r {
        Ok(v) => panic!("expected an error mentioning {what}, got {v:?}"),
        Err(e) => {
            let s = e.to_string();
            assert!(
                s.contains(file) && s.contains(what),
                "error {s:?} should name {file} and say {what}"
            );
        }
    }
}

fn mnist_like(dir: &Path, train_imgs: &[u8], train_lbls: &[u8]) {
    write(&dir.join("train-images-idx3-ubyte.gz"), &gz(train_imgs));
    write(&dir.join("train-labels-idx1-ubyte.gz"), &gz(train_lbls));
    write(&dir.join("t10k-images-idx3-ubyte"), &idx_images(1, 2, 2, 4));
    write(&dir.join("t10k-labels-idx1-ubyte"), &idx_labels(&[3]));
}

#[test]
fn idx_directory_errors() {
    let d = scratch("idx");
    mnist_like(&d, &idx_images(2, 2, 2, 8), &idx_labels(&[1, 9]));
    let ds = load_mnist_dir(&d).unwrap_or_else(|e| panic!("valid files: {e}"));
    assert_eq!((ds.train.len(), ds.test.len(), ds.n_features()), (2, 1, 4));
    assert!((ds.train.x()[[0, 0]] - 7.0 / 255.0).abs() < 1e-7);

    mnist_like(&d, &idx_images(2, 2, 2, 7), &idx_labels(&[1, 9]));
    expect_err(
        load_mnist_dir(&d),
        "train-images-idx3-ubyte.gz",
        "truncated",
    );
    mnist_like(&d, &idx_images(2, 2, 2, 9), &idx_labels(&[1, 9]));
    expect_err(load_mnist_dir(&d), "train-images-idx3-ubyte.gz", "trailing");
    mnist_like(&d, &idx_images(2, 2, 2, 8), &idx_labels(&[1, 10]));
    expect_err(
        load_mnist_dir(&d),
        "train-labels-idx1-ubyte.gz",
        "label 10 at index 1 out of range",
    );
    mnist_like(&d, &idx_images(2, 2, 2, 8), &idx_labels(&[1]));
    expect_err(
        load_mnist_dir(&d),
        "train-labels-idx1-ubyte.gz",
        "1 labels but",
    );
    mnist_like(&d, &idx_labels(&[1, 2]), &idx_labels(&[1, 2]));
    expect_err(
        load_mnist_dir(&d),
        "train-images-idx3-ubyte.gz",
        "wrong number of dimensions",
    );
    // A truncated gzip stream.
    let g = gz(&idx_images(2, 2, 2, 8));
    write(&d.join("train-images-idx3-ubyte.gz"), &g[..g.len() / 2]);
    expect_err(load_mnist_dir(&d), "train-images-idx3-ubyte.gz", "gzip");
    // Test images with another image size than the training ones.
    mnist_like(&d, &idx_images(2, 2, 2, 8), &idx_labels(&[1, 9]));
    write(&d.join("t10k-images-idx3-ubyte"), &idx_images(1, 3, 3, 9));
    expect_err(load_mnist_dir(&d), "fedhe-learn", "pixels");
    // Missing files.
    let empty = scratch("idx-empty");
    match load_mnist_dir(&empty) {
        Err(Error::Io { path, .. }) => assert!(path.ends_with("train-images-idx3-ubyte.gz")),
        other => panic!("expected Io error, got {other:?}"),
    }
    expect_err(read_idx(&empty.join("nope"), 1), "nope", "");
    let _ = std::fs::remove_dir_all(&d);
    let _ = std::fs::remove_dir_all(&empty);
}

#[test]
fn csv_file_errors() {
    let d = scratch("csv");
    let p = d.join("bad.csv");
    write(&p, b"f1,f2,label\n1,2,0\n3,oops,1\n");
    expect_err(
        load_csv(&p, "label"),
        "bad.csv",
        "row 3, column 2 ('f2'): 'oops' is not a number",
    );
    write(&p, b"f1,f2,label\n1,2,0\n3,4,20000\n");
    expect_err(load_csv(&p, "label"), "bad.csv", "out of range");
    write(&p, b"f1,f2,cls\n1,2,0\n");
    expect_err(load_csv(&p, "label"), "bad.csv", "no label column");
    // Label by index, no is_test column: seeded 75/25 split.
    write(&p, b"f1,f2,cls\n1,2,0\n3,4,1\n5,6,2\n7,8,1\n");
    let ds = load_csv(&p, "2").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((ds.train.len(), ds.test.len(), ds.n_classes()), (3, 1, 3));
    expect_err(load_csv(&d.join("missing.csv"), "label"), "missing.csv", "");
    let _ = std::fs::remove_dir_all(&d);
}

fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut h =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}").into_bytes();
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(b' ');
    }
    h.push(b'\n');
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    v.extend_from_slice(&u16::try_from(h.len()).unwrap_or(0).to_le_bytes());
    v.extend_from_slice(&h);
    v.extend_from_slice(data);
    v
}

#[test]
fn npy_file_errors() {
    let d = scratch("npy");
    let (x, y) = (d.join("x.npy"), d.join("y.npy"));
    let xs: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    write(&x, &npy("<f4", "(4, 2)", &xs));
    write(
        &y,
        &npy(
            "<i8",
            "(4,)",
            &[0i64, 1, 1, 0]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>(),
        ),
    );
    let ds = load_npy(&x, &y, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((ds.train.len() + ds.test.len(), ds.n_features()), (4, 2));

    write(
        &y,
        &npy(
            "<i8",
            "(3,)",
            &[0i64, 1, 1]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>(),
        ),
    );
    expect_err(load_npy(&x, &y, None), "y.npy", "3 labels but");
    write(
        &y,
        &npy(
            "<f8",
            "(4,)",
            &[0.0f64, 1.5, 1.0, 0.0]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>(),
        ),
    );
    expect_err(
        load_npy(&x, &y, None),
        "y.npy",
        "label 1.5 at index 1 out of range",
    );
    write(
        &y,
        &npy(
            "<i8",
            "(2, 2)",
            &[0i64, 1, 1, 0]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>(),
        ),
    );
    expect_err(load_npy(&x, &y, None), "y.npy", "wrong dimensions");
    write(&x, &npy("<f4", "(4, 2)", &xs[..20]));
    expect_err(load_npy(&x, &y, None), "x.npy", "truncated");
    write(&x, b"PK\x03\x04 a zip, not npy");
    expect_err(load_npy(&x, &y, None), "x.npy", "bad magic");
    write(&x, &npy("<f4", "(8,)", &xs));
    expect_err(load_npy(&x, &y, None), "x.npy", "wrong dimensions");
    let nan: Vec<u8> = [1.0f32, f32::NAN]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    write(&x, &npy("<f4", "(1, 2)", &nan));
    write(&y, &npy("|u1", "(1,)", &[0]));
    expect_err(
        load_npy(&x, &y, None),
        "x.npy",
        "non-finite value at row 0, column 1",
    );
    let _ = std::fs::remove_dir_all(&d);
}
