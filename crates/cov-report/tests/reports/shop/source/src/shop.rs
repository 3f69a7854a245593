fn main() {
    let price = parse("<10>");
    if price > 5 && 'x' != 'y' {
        expensive(&price);
    } else {
        cheap();
    }
}
