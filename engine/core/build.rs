fn main() {
    println!("cargo:rerun-if-changed=csrc/float.c");
    cc::Build::new()
        .file("csrc/float.c")
        .opt_level(2)
        .compile("redsimfloat");
}
