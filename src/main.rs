fn main() {
    print!("{}", mosip_partner_operator::api::all_crds_yaml().unwrap());
}
