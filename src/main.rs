fn main() {
    std::process::exit(nsk::main_with_args());
}
