fn main() {
    todo!("being written")
}
