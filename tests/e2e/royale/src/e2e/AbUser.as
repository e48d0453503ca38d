package e2e
{
    /** "addressbook.User" of examples/addressbook (an SaClassDef on the server). */
    public class AbUser
    {
        public var sa_key:Array;
        public var sa_lazy:Array;
        public var id:Object;
        public var first_name:String;
        public var last_name:String;
        public var emails:Array;
        public var phone_numbers:Array;
    }
}
