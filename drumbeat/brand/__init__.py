"""The sender's brand: name, postal address, logo, colours, fonts and social links that every
marketing email carries, and the media library its images come from."""
